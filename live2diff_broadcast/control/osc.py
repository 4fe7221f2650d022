"""OSC control (Stream Deck, TouchOSC, Resolume, a MIDI-to-OSC bridge): UDP messages -> ControlBus actions.

Addresses::

    /live2diff/style NAME          select a style (its cut or crossfade as the profile says)
    /live2diff/blend A B T         a fader between styles A and B at T in [0, 1]
    /live2diff/lora NAME W         a LoRA fader: weight W in [0, 1]
    /live2diff/passthrough 0|1     show the camera as it is (1) or the AI output (0)
    /live2diff/prompt TEXT         live edits of the style on air (``control/live_params.py``):
    /live2diff/strength S            prompt, strength in (0, 1], denoising steps (ints),
    /live2diff/t_index I J ...       seed (an int), guidance in [0, 10]
    /live2diff/seed N
    /live2diff/guidance G
    /live2diff/revert              drop the live edits of the style on air
    /live2diff/save                write the live edits into the profile file

Every message becomes the same typed action the text commands make (``control/protocol.py``), so
the supervisor validates it the same way (an unknown style is refused, naming the styles). The
server binds 127.0.0.1 unless told otherwise, with a loud warning for any other address (OSC has
no authentication).

Nothing a packet can send stops the show: ONE thread reads the socket and decodes each datagram
with the bounded decoder of ``osc_packet.py`` (no thread per packet or bundle, no scheduled
bundles); malformed, oversized, deeply nested, non-UTF-8 and future-dated packets, unknown
addresses and wrong arguments are dropped with one throttled log line per kind.

Last command wins under a flood, by construction: the kernel queues a socket's datagrams in
arrival order and the one reader takes them in that order. Actions go to the bus in batches: while
the show has not resolved the last batch, new ones wait here, in arrival order, a run of messages
for the same control (style, blend, passthrough, each LoRA, each live field) keeping only its
latest. When more than ``MAX_WAITING_ACTIONS`` wait (a flood), only the latest per control is
kept, in the order of their last arrival. So the last message for each control is always the last
one the show applies, and thousands of packets a second become a few dozen actions a tick on the
bus (which never has to drop one). UDP itself can drop a datagram when the socket's receive buffer
overflows; the buffer is raised to ``RECEIVE_BUFFER`` (as far as the OS allows) and the reader
does little per datagram, so it keeps up with thousands of packets a second.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from ..config.addresses import is_loopback
from . import live_params
from .actions import (
    Action,
    ActionResult,
    BlendStyles,
    EditStyle,
    RevertStyle,
    SaveProfile,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from .bus import ControlBus
from .osc_packet import OscRefused, decode
from .protocol import CommandError, unit_number
from .throttle import ThrottledLog

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
PREFIX = "/live2diff"
ORIGIN = "osc"
POLL_S = 0.2  # how often the reader looks at the stop flag
RECEIVE_BYTES = 65_536  # any UDP datagram fits, so an oversized one is seen whole and refused
RECEIVE_BUFFER = 4 * 1024 * 1024  # the socket's kernel queue (Linux caps it at net.core.rmem_max)
MAX_BATCH = 1024  # datagrams drained per round
MAX_WAITING_ACTIONS = 48  # actions waiting for the show's previous batch; beyond it, the latest per control


def _style(args: tuple[Any, ...]) -> Action:
    if len(args) != 1 or not isinstance(args[0], str) or not args[0].strip():
        raise CommandError(f"/live2diff/style takes one string (the style name), got {list(args)!r}")
    return SelectStyle(args[0].strip(), origin=ORIGIN)


def _blend(args: tuple[Any, ...]) -> Action:
    if len(args) != 3 or not all(isinstance(a, str) for a in args[:2]):
        raise CommandError(f"/live2diff/blend takes two style names and a number in [0, 1], got {list(args)!r}")
    return BlendStyles(args[0], args[1], unit_number(args[2], "blend position T"), origin=ORIGIN)


def _lora(args: tuple[Any, ...]) -> Action:
    if len(args) != 2 or not isinstance(args[0], str):
        raise CommandError(f"/live2diff/lora takes a LoRA name and a weight in [0, 1], got {list(args)!r}")
    return SetLoraWeight(args[0], unit_number(args[1], "LoRA weight W"), origin=ORIGIN)


def _passthrough(args: tuple[Any, ...]) -> Action:
    if len(args) != 1 or args[0] not in (0, 1, True, False, 0.0, 1.0):
        raise CommandError(f"/live2diff/passthrough takes 0 or 1, got {list(args)!r}")
    return TogglePassthrough(bool(args[0]), origin=ORIGIN)


# --- live parameters (the checks every surface shares: control/live_params.py) ---


def _one(field: str) -> Callable[[tuple[Any, ...]], Action]:
    def parse(args: tuple[Any, ...]) -> Action:
        if len(args) != 1:
            raise CommandError(f"{PREFIX}/{field} takes one value, got {list(args)!r}")
        return live_params.edit(field, args[0], ORIGIN)
    return parse


def _t_index(args: tuple[Any, ...]) -> Action:
    return live_params.edit("t_index_list", list(args), ORIGIN)


def _no_args(action: type[RevertStyle] | type[SaveProfile], name: str) -> Callable[[tuple[Any, ...]], Action]:
    def parse(args: tuple[Any, ...]) -> Action:
        if args:
            raise CommandError(f"{PREFIX}/{name} takes no arguments, got {list(args)!r}")
        return action(origin=ORIGIN)
    return parse


PARSERS: dict[str, Callable[[tuple[Any, ...]], Action]] = {
    f"{PREFIX}/style": _style,
    f"{PREFIX}/blend": _blend,
    f"{PREFIX}/lora": _lora,
    f"{PREFIX}/passthrough": _passthrough,
    **{f"{PREFIX}/{field}": _one(field) for field in ("prompt", "strength", "seed", "guidance")},
    f"{PREFIX}/t_index": _t_index,
    f"{PREFIX}/revert": _no_args(RevertStyle, "revert"),
    f"{PREFIX}/save": _no_args(SaveProfile, "save"),
}


def parse_osc(address: str, args: tuple[Any, ...]) -> Action:
    """An OSC message -> its action; CommandError naming the address and what it expects."""
    parser = PARSERS.get(address)
    if parser is None:
        raise CommandError(f"unknown OSC address {address!r}; expected one of {sorted(PARSERS)}")
    return parser(args)


class OscControl:
    """Listens for OSC on ``host:port`` in one thread and posts actions on ``bus``."""

    def __init__(self, bus: ControlBus, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.bus, self.host, self.port = bus, host, port
        self.log = ThrottledLog(logger)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._mailbox = threading.Lock()
        self._waiting: list[tuple[Hashable, Action]] = []  # (control, action) in arrival order, for the next batch
        self._outstanding = 0  # actions of the batch on the bus the show has not resolved yet

    def start(self) -> None:
        """Bind and serve (OSError with the address if it cannot bind)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"OSC control cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)  # capped by the OS (rmem_max)
        except OSError:
            pass
        sock.settimeout(POLL_S)
        self._sock, self.port = sock, int(sock.getsockname()[1])
        if not is_loopback(self.host):
            logger.warning("OSC control listens on %s:%d, reachable from the NETWORK with no authentication: "
                           "anyone there can change styles; use 127.0.0.1 unless you need it", self.host, self.port)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="osc-control", daemon=True)
        self._thread.start()
        logger.info("OSC control on udp://%s:%d (%s)", self.host, self.port, ", ".join(sorted(PARSERS)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # --- the reader thread ----------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            batch = _receive_batch(sock)
            if batch:
                self._handle(batch)

    def _handle(self, batch: list[tuple[bytes, str]]) -> None:
        """Decode a batch of datagrams (arrival order); offer each action to its control's mailbox."""
        for data, peer in batch:
            try:
                messages = decode(data)
            except OscRefused as exc:
                self.log.warning(exc.kind, "OSC: dropped a %s packet of %d bytes from %s: %s",
                                 exc.kind.replace("_", "-"), len(data), peer, exc)
                continue
            for message in messages:
                try:
                    action = parse_osc(message.address, message.args)
                except CommandError as exc:
                    self.log.error("command", "OSC: %s; message ignored", exc)
                    continue
                self._offer(_control_key(action), action)

    # --- batches on the bus ------------------------------------------------------------------------

    def _offer(self, key: Hashable, action: Action) -> None:
        with self._mailbox:
            if self._waiting and self._waiting[-1][0] == key:
                self._waiting[-1] = (key, action)  # a run of one control: its latest value
            else:
                self._waiting.append((key, action))
            if len(self._waiting) > MAX_WAITING_ACTIONS:  # a flood: the latest per control, in last-arrival order
                latest = dict(self._waiting)
                order = list(dict.fromkeys(key for key, _ in reversed(self._waiting)))[::-1]
                self._waiting = [(key, latest[key]) for key in order]
            batch = self._take()
        self._post(batch)

    def _take(self) -> list[Action]:
        """The waiting actions if no batch is on the bus (the mailbox lock held); [] otherwise."""
        if self._outstanding or not self._waiting:
            return []
        batch = [action for _, action in self._waiting]
        self._waiting, self._outstanding = [], len(batch)
        return batch

    def _post(self, batch: list[Action]) -> None:
        for action in batch:
            self.bus.post(action).add_done_callback(self._resolved)

    def _resolved(self, future: Future[ActionResult]) -> None:
        """The show took (or the bus dropped) one action of the batch; the last one sends the next batch."""
        result = future.result()
        if not result.ok:
            self.log.error("refused", "OSC command refused: %s", result.message)
        with self._mailbox:
            self._outstanding -= 1
            batch = self._take()
        self._post(batch)


def _receive_batch(sock: socket.socket) -> list[tuple[bytes, str]]:
    """The next datagram (waiting up to POLL_S), then whatever else is already queued (up to MAX_BATCH)."""
    batch: list[tuple[bytes, str]] = []
    try:
        data, peer = sock.recvfrom(RECEIVE_BYTES)
        batch.append((data, str(peer[0])))
        sock.settimeout(0.0)
        while len(batch) < MAX_BATCH:
            data, peer = sock.recvfrom(RECEIVE_BYTES)
            batch.append((data, str(peer[0])))
    except (TimeoutError, BlockingIOError, InterruptedError, ConnectionResetError):
        pass  # nothing (more) waiting; Windows reports an ICMP "port unreachable" as a reset
    except OSError:
        if not batch:
            time.sleep(POLL_S)  # the socket was closed by stop(): the loop ends
    finally:
        try:
            sock.settimeout(POLL_S)
        except OSError:
            pass
    return batch


def _control_key(action: Action) -> Hashable:
    """What a message controls: a later message for the same control supersedes an earlier one."""
    if isinstance(action, SetLoraWeight):
        return ("lora", action.name)
    if isinstance(action, EditStyle):
        return ("edit", action.field)
    return type(action).__name__

