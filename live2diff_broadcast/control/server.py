"""The local control port: HTTP + WebSocket (``app.py``) served by uvicorn in a background thread.

127.0.0.1 only unless the profile's ``control.host`` says otherwise. One port serves the OBS dock
page (``GET /``), ``/status``, POST commands and the dock's WebSocket; see ``app.py`` for the
routes, ``guard.py`` for who may use them and ``token.py`` for the token model.

**Remote mode** (a ``control.host`` that is not loopback, e.g. ``0.0.0.0``): refused unless
``control.allowed_hosts`` lists the names clients use to reach this machine (the Host header
check needs them; a loopback name from another machine is refused as spoofed), every request
but the page then needs the token, and a warning says the port is open to the network. Plain
HTTP: anyone on the path can read the token, so use it on a network you trust (or tunnel it).

The old line-based TCP protocol on the same port is gone: it could not carry a token or an
Origin check without growing its own framing and auth, and every tool it served (Stream Deck,
Streamer.bot, scripts, the ``control`` command) can send an HTTP POST with a header.

Bounds (a flood must not take the show down; ``limits.py``, ``bounded_http.py``): a connection
must send a complete request head within 5 s of its accept (and of each response); at most 64
connections may be waiting for one, a newer one closes the oldest; heads over 16 KiB get 431
(400 while still incomplete), bodies over 16 KiB 413, a body not in within 10 s 408; WebSocket
messages over 64 KiB are closed with 1009, and at most 16 WebSockets may wait for their token.
Past 512 busy connections new requests get 503. The server runs its own event loop in a daemon
thread; ``stop()`` shuts it down within ~2 s and removes the token file.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from ..config.addresses import is_loopback
from .app import ControlApp
from .bounded_http import WaitingConnections, protocol_class
from .bus import ControlBus
from .guard import WILDCARDS, allowed_hosts
from .limits import MAX_HEAD, WS_MAX_MESSAGE
from .preview import PreviewFeeds
from .token import dock_url, load_or_create, new_token, remove_token, write_token

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
MAX_CONNECTIONS = 512  # busy connections (requests in flight, WebSockets); more get 503
MAX_WAITING = 64  # connections waiting for a request head; a newer one closes the oldest
HEAD_DEADLINE_S = 5.0  # from accept (and from each response) to a complete request head


class RemoteModeError(OSError):
    """A non-loopback control.host without control.allowed_hosts; the message says what to set."""


def _no_controls() -> dict[str, Any]:
    return {}


class _Throttle(logging.Filter):
    """uvicorn logs every malformed request ("Invalid HTTP request received."): one per message per 10 s."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s, self._last = every_s, dict[str, float]()

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), str(record.msg)
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return False
        self._last[key] = now
        return True


_uvicorn_log = logging.getLogger("uvicorn.error")
_uvicorn_log.addFilter(_Throttle())
_uvicorn_log.setLevel(logging.WARNING)  # its INFO lines (started, shutting down) would repeat ours


class ControlServer:
    """``start()`` binds (OSError naming the port when it cannot) and serves; ``stop()`` is idempotent."""

    def __init__(
        self,
        bus: ControlBus,
        status: Callable[[], dict[str, Any]],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        result_timeout_s: float = 2.0,
        controls: Callable[[], dict[str, Any]] = _no_controls,
        token: str | None = None,
        port_field: str = "control.port",
        allowed: Sequence[str] = (),
        token_file: Path | None = None,
        preview: PreviewFeeds | None = None,
    ) -> None:
        self.bus, self.status, self.host, self.port = bus, status, host, port
        self.remote = not is_loopback(host)
        self.allowed = tuple(allowed)
        if self.remote and not self.allowed:
            raise RemoteModeError(
                f"control.host = {host!r} opens the control port to the network: list the names clients use to "
                f"reach this machine in control.allowed_hosts (e.g. [\"192.168.1.20\", \"stream-pc.local\"]); "
                "requests naming any other Host are refused")
        self.token = token or (load_or_create(token_file) if token_file is not None else new_token())
        self.port_field = port_field
        self.token_file: Path | None = None
        self._bound_port = port
        self.waiting = WaitingConnections(MAX_WAITING, HEAD_DEADLINE_S)
        self.app = ControlApp(bus, status, controls, self.token,
                              lambda: allowed_hosts(self.host, self._bound_port, self.allowed), result_timeout_s,
                              remote=self.remote, preview=preview)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (port 0 -> the one the OS chose)."""
        return self.host, self._bound_port

    @property
    def url(self) -> str:
        """The page's address: the bind address, or (remote mode) the first allowed host name."""
        host = self.allowed[0] if self.remote else self.host
        host = "127.0.0.1" if host in WILDCARDS else (f"[{host}]" if ":" in host and not host.startswith("[") else host)
        return f"http://{host}:{self._bound_port}/"

    @property
    def dock_url(self) -> str:
        """``url`` with the token in its fragment: what to paste into OBS (a browser never sends the fragment)."""
        return dock_url(self.url, self.token)

    def start(self) -> tuple[str, int]:
        sock = self._bind()
        self._bound_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app.asgi, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio",
            http=protocol_class(self.waiting), h11_max_incomplete_event_size=MAX_HEAD,
            ws_max_size=WS_MAX_MESSAGE, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=int(HEAD_DEADLINE_S),
            timeout_graceful_shutdown=1, server_header=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=self._serve, args=(server, sock), name="control-server", daemon=True)
        self._thread.start()
        for _ in range(500):  # up to 5 s for the loop to start
            if server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            self.stop()
            raise OSError(f"control server on {self.host}:{self._bound_port} did not start (see the log above)")
        self._unsubscribe = self.bus.subscribe(self.app.changed)
        self.token_file = write_token(self.token, self._bound_port)
        host, port = self.address
        if self.remote:
            logger.warning("!!! control server on %s:%d is reachable from OTHER MACHINES (profile control.host) as %s: "
                           "every request needs the token, sent in clear text over plain HTTP; set control.host = "
                           "\"127.0.0.1\" to keep it local !!!", host, port, ", ".join(self.allowed))
        logger.info("control server: %s (token in %s; try: live2diff-broadcast control --port %d status)",
                    self.url, self.token_file, port)
        logger.info("dock URL for a browser or OBS (Docks > Custom Browser Docks); it carries the token, give it "
                    "only to whom may drive the show: %s", self.dock_url)
        return host, port

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old sockets linger
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(
                f"control server cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); another program "
                f"(or another `run`) uses it: set another {self.port_field} in the profile (or --control-port)"
            ) from exc
        sock.setblocking(False)
        return sock

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except Exception:
            logger.exception("control server stopped with an error; the show goes on without it")
        finally:
            sock.close()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        server, self._server = self._server, None
        if server is not None:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                logger.warning("control server thread did not stop within 5 s")
            self._thread = None
        if self.token_file is not None:
            remove_token(self.token_file)
            self.token_file = None

