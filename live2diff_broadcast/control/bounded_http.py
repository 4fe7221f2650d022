"""uvicorn's h11 protocol with the two bounds it lacks: a deadline for every request head, and a cap on
connections that are waiting for one.

uvicorn closes a kept-alive connection after ``timeout_keep_alive`` only once a response was sent,
and cancels that timer on the first byte that arrives. A connection that never sends a request
(or sends its head a byte at a time) stayed open for good, and at ``limit_concurrency`` of them
(512) every request, the dock's and ``control``'s included, got 503: the port was locked.

Here a connection is **waiting** from its accept until its request head is complete, and again
from each response until the next head. While waiting:

* it must complete a head within ``head_deadline_s`` or it is closed;
* at most ``limit`` connections wait at once; a new one beyond that closes the OLDEST waiting
  one that has no bytes queued in the kernel (``FIONREAD``). A real client sends its head the
  moment it connects: its bytes are queued before the event loop gets to read them, so even an
  attacker that re-opens connections as fast as they are closed (the loop accepts many per turn)
  evicts its own silent sockets, not the client that has spoken.

So a flood of idle sockets keeps at most ``limit`` of them open and the dock, ``control`` and
Stream Deck keep their answers. Connections that are busy (a request in flight, a WebSocket) are
never evicted; the app bounds those itself (``app.py``: bodies, WebSockets waiting for a token).
"""

from __future__ import annotations

import array
import asyncio
import logging
import sys
from collections import OrderedDict
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .throttle import ThrottledLog

logger = logging.getLogger(__name__)

if sys.platform == "win32":

    def _queued_bytes(fd: int) -> int:
        return 0  # no FIONREAD through fcntl: the oldest waiter is evicted

else:
    import fcntl
    import termios

    def _queued_bytes(fd: int) -> int:
        """Bytes the kernel holds for socket ``fd`` that nobody has read yet (0 if it cannot tell)."""
        count = array.array("i", [0])
        try:
            fcntl.ioctl(fd, termios.FIONREAD, count)
        except OSError:
            return 0
        return int(count[0])


class WaitingConnections:
    """The connections waiting for a request head, oldest first (one per server; its event loop only)."""

    def __init__(self, limit: int, head_deadline_s: float) -> None:
        self.limit, self.head_deadline_s = limit, head_deadline_s
        self._waiting: OrderedDict[int, BoundedH11Protocol] = OrderedDict()
        self.log = ThrottledLog(logger)
        self.evicted = self.timed_out = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, conn: BoundedH11Protocol) -> None:
        self._waiting[id(conn)] = conn
        while len(self._waiting) > self.limit:
            victim = next((c for c in self._waiting.values() if c.queued_bytes() == 0), None)
            victim = victim or next(iter(self._waiting.values()))  # all have spoken: the oldest
            self._waiting.pop(id(victim))
            self.evicted += 1
            self.log.warning("evicted", "control port: more than %d connections without a request; closed the "
                             "oldest silent one (%d so far)", self.limit, self.evicted)
            victim.drop()

    def discard(self, conn: BoundedH11Protocol) -> None:
        self._waiting.pop(id(conn), None)

    def expired(self, conn: BoundedH11Protocol) -> None:
        self.discard(conn)
        self.timed_out += 1
        self.log.warning("deadline", "control port: closed a connection that sent no complete request within "
                         "%.0f s (%d so far)", self.head_deadline_s, self.timed_out)


def protocol_class(waiting: WaitingConnections) -> type[BoundedH11Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for a server whose waiters ``waiting`` tracks."""
    return type("ControlH11Protocol", (BoundedH11Protocol,), {"waiting": waiting})


class BoundedH11Protocol(H11Protocol):
    """H11Protocol that reports to ``waiting`` (a class attribute: see ``protocol_class``)."""

    waiting: WaitingConnections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a head is complete (or the socket upgraded / failed)
            self._busy()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._wait()  # kept alive: waiting for the next head

    def connection_lost(self, exc: Exception | None) -> None:
        self._busy()
        super().connection_lost(exc)

    def queued_bytes(self) -> int:
        """Bytes of a request already in the kernel for this connection (its head, about to be read)."""
        sock = self.transport.get_extra_info("socket")
        return 0 if sock is None else _queued_bytes(sock.fileno())

    def drop(self) -> None:
        """Close now (evicted, or its deadline passed)."""
        self._cancel()
        self.transport.close()

    def _wait(self) -> None:
        self._cancel()
        self._deadline = self.loop.call_later(self.waiting.head_deadline_s, self._expire)
        self.waiting.add(self)

    def _busy(self) -> None:
        self._cancel()
        self.waiting.discard(self)

    def _expire(self) -> None:
        self._deadline = None
        self.waiting.expired(self)
        self.drop()

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
