"""``run``: the live broadcast: source -> engine process -> sink, until Ctrl+C, SIGTERM or --duration."""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import signal
import sys
import threading
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..control.osc import DEFAULT_HOST as OSC_HOST
from ..control.osc import DEFAULT_PORT as OSC_PORT
from ..control.server import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:  # the show's modules are imported when it runs, not for --help (cli.py)
    from ..config import Profile
    from ..control.hotkeys import HotkeyControl
    from ..control.obs_bridge import ObsBridge
    from ..control.osc import OscControl
    from ..control.server import ControlServer
    from ..control.terminal import TerminalControl
    from ..plugin_api import PluginRegistry, Source
    from ..runtime.sinks import SinkSpec
    from ..runtime.supervisor import Supervisor
    from ..runtime.telemetry import Telemetry

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the live broadcast (source -> engine -> sink)",
        description="Starts the source, the engine process and the sink. The sink shows the source "
        "(passthrough) while the engine loads, warms up or restarts. Ctrl+C or SIGTERM stops cleanly.",
    )
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in tiny preset, "
                   "test pattern source, file sink)")
    p.add_argument("--style", default=None, help="style name from the profile (default: its default style)")
    p.add_argument("--duration", type=positive_seconds, default=None, help="stop after this many seconds (> 0)")
    p.add_argument("--fps", type=positive_fps, default=None, help="output frame rate: every slot of its grid gets "
                   "a frame (default: the profile's [output] fps, else the source's rate)")
    p.add_argument("--passthrough-model", action="store_true", help="identity engine instead of diffusion (testing)")
    p.add_argument("--no-overlay", action="store_true", help="no status text on passthrough frames")
    p.add_argument("--status-interval", type=float, default=0.5, help="seconds between status lines on stderr")
    c = p.add_argument_group("live controls")
    c.add_argument("--control-host", default=None,
                   help=f"control server address (default: the profile's control.host, {DEFAULT_HOST}: this machine only; "
                   "any other needs control.allowed_hosts in the profile)")
    c.add_argument("--control-port", type=int, default=None,
                   help=f"control server port (default: the profile's control.port, {DEFAULT_PORT})")
    c.add_argument("--no-control-server", action="store_true", help="no control server")
    c.add_argument("--no-hotkeys", action="store_true", help="no global hotkeys")
    c.add_argument("--no-terminal-keys", action="store_true", help="ignore keys typed in this terminal")
    c.add_argument("--no-watch", action="store_true", help="do not apply profile edits while running")
    c.add_argument("--no-obs", action="store_true", help="do not follow OBS's program scene even if [obs] is enabled")
    c.add_argument("--osc", action="store_true", help=f"listen for OSC (/live2diff/style NAME, /live2diff/blend A B T, "
                   f"/live2diff/lora NAME W, /live2diff/passthrough 0|1) on UDP {OSC_HOST}:{OSC_PORT}")
    c.add_argument("--osc-host", default=OSC_HOST, help=f"OSC address (default {OSC_HOST}; anything else is open to "
                   "the network, without authentication)")
    c.add_argument("--osc-port", type=int, default=OSC_PORT, help=f"OSC UDP port (default {OSC_PORT})")
    p.add_argument("--record", type=Path, default=None, metavar="DIR", help="record the engine's input and output "
                   "(lossless .mkv) and a JSON timeline of every control event; replay with "
                   "'render DIR/input.mkv OUT.mkv --replay DIR/timeline.json'")
    p.set_defaults(func=run)


def positive_seconds(text: str) -> float:
    """--duration: a number of seconds above 0 (refused before anything is opened)."""
    return _positive(text, "seconds")


def positive_fps(text: str) -> float:
    """--fps: frames per second above 0 and at most 240."""
    value = _positive(text, "frames per second")
    if value > 240:
        raise argparse.ArgumentTypeError(f"expected at most 240 frames per second, got {text!r}")
    return value


def _positive(text: str, unit: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of {unit} above 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from ..config import ProfileError, load_profile
    from ..plugin_api import PluginError, discover_plugins
    from ..runtime.engine_boot import start_engine_early
    from .check import model_problems

    # 1. profile, style and plugins: every mistake is reported here, before anything starts
    try:
        profile = load_profile(args.profile)
        profile.style(args.style)
        if args.profile is None:
            _announce_defaults(profile)
        registry = discover_plugins()
        registry.source(profile.source.plugin).create(profile.source.settings)  # settings checked now, not at the first frame
        for _, section in profile.sink_sections():
            registry.sink(section.plugin).create(section.settings)
    except (ProfileError, KeyError, PluginError) as exc:
        logger.error("%s", exc.args[0] if isinstance(exc, KeyError) else exc)
        return 2
    missing = model_problems(profile)  # files the engine would fail to load: no restart loop, an answer now
    if missing:
        logger.error("%s: model files cannot be found:\n  %s\n(`live2diff-broadcast check %s` lists every model)",
                     args.profile, "\n  ".join(missing), args.profile)
        return 2
    # 2. the engine process imports its libraries while this one imports the show's (engine_boot.py)
    early_engine = start_engine_early(multiprocessing.get_context("spawn"))
    from ..config.watch import ProfileWatcher
    from ..control.bus import ControlBus
    from ..runtime.supervisor import FatalShowError, Supervisor, SupervisorOptions  # torch
    from ..runtime.telemetry import Telemetry

    # 3. the supervisor, stopped by SIGINT / SIGTERM / q; plugins read its profile (hot reload)
    telemetry = Telemetry()
    controls = ControlBus()
    watcher = None
    if args.profile is not None and not args.no_watch:
        watcher = ProfileWatcher(args.profile, profile, registry)
    supervisor = Supervisor(
        profile,
        source_factory=lambda: _create_source(registry, supervisor.profile),
        sink_factory=_sink_specs(registry, profile),
        style=args.style,
        options=SupervisorOptions(
            model="passthrough" if args.passthrough_model else "diffusion",
            fps=args.fps,
            overlay=not args.no_overlay,
            log_level=logging.getLogger().level,
            record_dir=None if args.record is None else str(args.record),
        ),
        telemetry=telemetry,
        controls=controls,
        watcher=watcher,
        profile_path=args.profile,
        early_engine=early_engine,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = threading.Thread(target=_status_loop, args=(telemetry, stop, args.status_interval), name="status", daemon=True)
    status.start()
    inputs = _start_controls(args, supervisor)
    try:
        supervisor.run(duration=args.duration, stop_event=stop)
    except (PluginError, FatalShowError) as exc:
        logger.error("%s", exc)
        return 2
    finally:
        for control in reversed(inputs):
            control.stop()
        stop.set()
        status.join(timeout=2.0)
        for s, handler in previous.items():
            signal.signal(s, handler)
    snap = telemetry.snapshot()
    print(
        f"done: {snap.frames_in} frames in, {snap.frames_out} out ({snap.live_frames} live, {snap.held_frames} held, "
        f"{snap.passthrough_frames} passthrough, {snap.no_signal_frames} no signal; longest hold "
        f"{snap.longest_hold_ms / 1000:.2f} s), stale frames skipped (by design: the newest frame wins) in "
        f"{snap.dropped_input} out {snap.dropped_output}, engine restarts {snap.engine_restarts}, "
        f"source reconnects {snap.source_reconnects}"
    )
    if len(snap.sinks) > 1 or snap.sink_reopens:
        print("sinks: " + ", ".join(f"{row.get('label')} {row.get('written', 0)} written"
                                    + (f" ({row['missed']} slots missed)" if row.get("missed") else "")
                                    + (f", reopened {row['reopens']} times" if row.get("reopens") else "")
                                    for row in snap.sinks))
    return 0


def _start_controls(
    args: argparse.Namespace, supervisor: Supervisor
) -> list[HotkeyControl | TerminalControl | ControlServer | ObsBridge | OscControl]:
    """Hotkeys, terminal keys, the control server, OSC and the OBS bridge, each optional; one failing never stops the others."""
    from ..control.actions import ProfileReloaded
    from ..control.dock import dock_controls
    from ..control.hotkeys import HotkeyControl, profile_key_bindings
    from ..control.obs_bridge import start_obs_bridge
    from ..control.osc import OscControl
    from ..control.server import ControlServer
    from ..control.terminal import TerminalControl

    started: list[HotkeyControl | TerminalControl | ControlServer | ObsBridge | OscControl] = []
    bus = supervisor.controls
    hotkeys: HotkeyControl | None = None
    terminal_live = False
    if not args.no_hotkeys:
        hotkeys = HotkeyControl(bus, profile_key_bindings(supervisor.profile))
        hotkeys.start()
        started.append(hotkeys)

        def rebind(event: object) -> None:
            if isinstance(event, ProfileReloaded) and hotkeys.available:
                hotkeys.rebind(profile_key_bindings(supervisor.profile))

        bus.subscribe(rebind)
    if not args.no_terminal_keys:
        terminal = TerminalControl(bus, lambda: [s.name for s in supervisor.profile.styles])
        if terminal.start():
            started.append(terminal)
            terminal_live = True
    if not args.no_control_server:
        section = supervisor.profile.control
        host = args.control_host if args.control_host is not None else section.host
        port = args.control_port if args.control_port is not None else section.port
        def controls() -> dict[str, Any]:  # the dock shows a key only where pressing it does something
            return dock_controls(supervisor.profile, hotkeys is not None and hotkeys.available is True, terminal_live)

        try:
            server = ControlServer(bus, supervisor.status, host, port, controls=controls,
                                   port_field="--control-port" if args.control_port is not None else "control.port",
                                   preview=supervisor.preview_feeds(), allowed=section.allowed_hosts,
                                   token_file=None if section.token_file is None else Path(section.token_file))
            server.start()
            started.append(server)
        except OSError as exc:
            logger.error("%s; the show goes on: hotkeys and terminal keys still work", exc)
    if args.osc:
        osc = OscControl(bus, args.osc_host, args.osc_port)
        try:
            osc.start()
            started.append(osc)
        except OSError as exc:
            logger.error("%s; the other controls still work", exc)
    if supervisor.profile.obs.enabled and not args.no_obs:
        started.append(start_obs_bridge(
            bus, lambda: supervisor.profile.obs,
            current_style=lambda: supervisor.telemetry.snapshot().style or supervisor.style,
        ))
    return started


def _create_source(registry: PluginRegistry, profile: Profile) -> Source:
    """The source as the profile says now (a saved [source] reconnects with the new settings)."""
    return registry.source(profile.source.plugin).create(profile.source.settings)


def _sink_specs(registry: PluginRegistry, profile: Profile) -> list[SinkSpec]:
    """One SinkSpec per [sink] / [[sinks]] entry: its label for logs and the status, and a factory (the sinks
    keep the settings they started with: a [[sinks]] edit applies at the next start)."""
    from ..runtime.sinks import SinkSpec

    specs = []
    for where, section in profile.sink_sections():
        specs.append(SinkSpec(section.label(where), partial(registry.sink(section.plugin).create, dict(section.settings))))
    return specs


def _announce_defaults(profile: Profile) -> None:
    (_, sink), = profile.sink_sections()
    logger.warning(
        "no --profile given: using the built-in defaults: models.preset=%r (RANDOM weights, meaningless output), "
        "engine.device=%r, source %r %s, sink %r %s",
        profile.models.preset, profile.engine.device, profile.source.plugin, profile.source.settings,
        sink.plugin, sink.settings,
    )


def _status_loop(telemetry: Telemetry, stop: threading.Event, interval: float) -> None:
    """One live status line on stderr: rewritten in place on a terminal, a line per 5 s otherwise."""
    tty = sys.stderr.isatty()
    every = interval if tty else max(interval, 5.0)
    from ..runtime.telemetry import STALE_FRAMES_NOTE

    logger.info("status line: %s", STALE_FRAMES_NOTE)
    while not stop.wait(every):
        line = telemetry.snapshot().status_line()
        if tty:
            sys.stderr.write("\r\x1b[2K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")
