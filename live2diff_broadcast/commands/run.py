"""``run``: the live broadcast: source -> engine process -> sink, until Ctrl+C, SIGTERM or --duration."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ..config import Profile, ProfileError, load_profile
from ..plugin_api import PluginError, PluginRegistry, Sink, Source, discover_plugins
from ..supervisor import Supervisor, SupervisorOptions
from ..telemetry import Telemetry

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
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--passthrough-model", action="store_true", help="identity engine instead of diffusion (testing)")
    p.add_argument("--no-overlay", action="store_true", help="no status text on passthrough frames")
    p.add_argument("--status-interval", type=float, default=0.5, help="seconds between status lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # 1. profile, style and plugins: every mistake is reported here, before anything starts
    try:
        profile = load_profile(args.profile)
        profile.style(args.style)
        if args.profile is None:
            _announce_defaults(profile)
        registry = discover_plugins()
        source_cls, sink_cls = registry.source(profile.source.plugin), registry.sink(profile.sink.plugin)
        source_cls.create(profile.source.settings)  # settings validated now, not at the first frame
        sink_cls.create(profile.sink.settings)
    except (ProfileError, KeyError, PluginError) as exc:
        logger.error("%s", exc.args[0] if isinstance(exc, KeyError) else exc)
        return 2
    # 2. the supervisor, stopped by SIGINT / SIGTERM
    telemetry = Telemetry()
    supervisor = Supervisor(
        profile,
        source_factory=lambda: _create(registry, "source", profile),  # type: ignore[arg-type,return-value]
        sink_factory=lambda: _create(registry, "sink", profile),  # type: ignore[arg-type,return-value]
        style=args.style,
        options=SupervisorOptions(
            model="passthrough" if args.passthrough_model else "diffusion",
            overlay=not args.no_overlay,
            log_level=logging.getLogger().level,
        ),
        telemetry=telemetry,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = threading.Thread(target=_status_loop, args=(telemetry, stop, args.status_interval), name="status", daemon=True)
    status.start()
    try:
        supervisor.run(duration=args.duration, stop_event=stop)
    except PluginError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        stop.set()
        status.join(timeout=2.0)
        for s, handler in previous.items():
            signal.signal(s, handler)
    snap = telemetry.snapshot()
    print(
        f"done: {snap.frames_in} frames in, {snap.frames_out} out ({snap.passthrough_frames} passthrough), "
        f"dropped in {snap.dropped_input} out {snap.dropped_output}, engine restarts {snap.engine_restarts}, "
        f"source reconnects {snap.source_reconnects}"
    )
    return 0


def _create(registry: PluginRegistry, kind: str, profile: Profile) -> Source | Sink:
    section = profile.source if kind == "source" else profile.sink
    cls = registry.source(section.plugin) if kind == "source" else registry.sink(section.plugin)
    return cls.create(section.settings)


def _announce_defaults(profile: Profile) -> None:
    logger.warning(
        "no --profile given: using the built-in defaults: models.preset=%r (RANDOM weights, meaningless output), "
        "engine.device=%r, source %r %s, sink %r %s",
        profile.models.preset, profile.engine.device, profile.source.plugin, profile.source.settings,
        profile.sink.plugin, profile.sink.settings,
    )


def _status_loop(telemetry: Telemetry, stop: threading.Event, interval: float) -> None:
    """One live status line on stderr: rewritten in place on a terminal, a line per 5 s otherwise."""
    tty = sys.stderr.isatty()
    every = interval if tty else max(interval, 5.0)
    while not stop.wait(every):
        line = telemetry.snapshot().status_line()
        if tty:
            sys.stderr.write("\r\x1b[2K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")
