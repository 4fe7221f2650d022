"""OSC control (Stream Deck, TouchOSC, Resolume, a MIDI-to-OSC bridge): UDP messages -> ControlBus actions.

Addresses (python-osc's ``ThreadingOSCUDPServer`` + ``Dispatcher``)::

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
the supervisor validates it the same way (an unknown style is refused, naming the styles). Bad
input never stops the show: a malformed packet, an unknown address or wrong arguments are logged
with what was expected and dropped. The server binds 127.0.0.1 unless told otherwise, with a
loud warning for any other address (OSC has no authentication).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from . import live_params
from .actions import (
    Action,
    ActionResult,
    BlendStyles,
    RevertStyle,
    SaveProfile,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from .bus import ControlBus
from .loopback import is_loopback
from .protocol import CommandError, unit_number

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
PREFIX = "/live2diff"
ORIGIN = "osc"


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


class _LoggingDispatcher(Dispatcher):
    """python-osc drops unparsable packets silently; this one says so (and still drops them)."""

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list[Any]:
        try:
            osc_packet.OscPacket(data)
        except osc_packet.ParseError as exc:
            logger.warning("OSC: malformed packet of %d bytes from %s ignored (%s)", len(data), client_address[0], exc)
            return []
        return super().call_handlers_for_packet(data, client_address)


class _Server(ThreadingOSCUDPServer):
    daemon_threads = True

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not super().verify_request(request, client_address):
            logger.warning("OSC: a datagram from %s that is not OSC ignored", client_address[0])
            return False
        return True


class OscControl:
    """Listens for OSC on ``host:port`` in a thread and posts actions on ``bus``."""

    def __init__(self, bus: ControlBus, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.bus, self.host, self.port = bus, host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve (OSError with the address if it cannot bind)."""
        dispatcher = _LoggingDispatcher()
        dispatcher.set_default_handler(self._on_message)
        try:
            self._server = _Server((self.host, self.port), dispatcher)
        except OSError as exc:
            raise OSError(f"OSC control cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self.port = int(self._server.server_address[1])
        if not is_loopback(self.host):
            logger.warning("OSC control listens on %s:%d, reachable from the NETWORK with no authentication: "
                           "anyone there can change styles; use 127.0.0.1 unless you need it", self.host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="osc-control", daemon=True)
        self._thread.start()
        logger.info("OSC control on udp://%s:%d (%s)", self.host, self.port, ", ".join(sorted(PARSERS)))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _on_message(self, address: str, *args: Any) -> None:
        try:
            action = parse_osc(address, args)
        except CommandError as exc:
            logger.error("OSC: %s; message ignored", exc)
            return
        self.bus.post(action).add_done_callback(lambda f: _report(address, f))


def _report(address: str, future: Future[ActionResult]) -> None:
    result = future.result()
    if not result.ok:
        logger.error("OSC %s refused: %s", address, result.message)
