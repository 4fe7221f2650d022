"""Wires source -> engine -> sink and keeps the output flowing whatever fails.

Stages (all wiring is in ``Supervisor._start``, one block)::

    SourceStage ──(input ring, shm)──> engine process ──(output ring, shm)──> OutputStage -> SinkSet
    (thread)  │                         ↑ EngineKeeper: messages / events (pipe)   ↑  (sink loop)   (a thread per sink)
              └──────────── latest source frame (passthrough) ─────────────────────┘

- ``source_stage.py``: connects the source, feeds the input ring, reconnects with backoff;
- ``engine_keeper.py``: starts the engine process, takes its events, restarts it with backoff;
- ``output_stage.py``: a frame into every slot of the output's 1/fps grid (``output_clock.py``):
  live, held, passthrough or no signal;
- ``sinks.py``: hands it to every sink ([sink], or each of [[sinks]]) on the sink's own thread
  (``sink_worker.py``), never waiting on one; ``sink_keeper.py`` reopens a sink that keeps failing,
  with backoff.

Start-up: the source is opened first; one that cannot be opened stops the start with a
``FatalShowError`` (``run`` exits 2 naming it and why) when its policy says so ([source]
on_open_failure; by default a file must open, a camera or NDI sender may come later and is
retried). The first engine failing to load its models stops the show the same way.

Resolution and aspect: every sink is opened at the model's size (``engine.width`` x
``engine.height``) and the output rate (run --fps, [output] fps, else the source's nominal fps). Source frames go into the input ring at
their own size (frames larger than ``input_capacity`` are first scaled down to fit it,
keeping the aspect, logged once); the translator then scale-and-crops them to cover the
model size (no bars, no distortion). Passthrough frames get the very same crop, so the
picture does not jump when the engine goes live or drops out. Sinks scale the model-size
frames to their own resolution if they have one.

Timing: the output is a constant-rate signal. Every frame a sink receives carries the pts_ns of
its slot on the output grid, one slot per frame, so pts_ns strictly increases and a recording has
no holes; the age of what it shows (the engine's latency) is in telemetry. The sink loop runs per
tick: controls, live settings ([output], [watchdog]), engine watch, the due slots.

Controls (``control/``): hotkeys, terminal keys and the control server post typed actions on
``self.controls`` (a ControlBus); the sink loop hands them to the control stage between ticks
(``control_stage.py``: dispatch, blend and LoRA-fader checks). Style actions fold into one target
(the last request wins) sent as one ``SetStyle``; the engine holds the previous style
until the new one is ready and warm, then cuts (``engine/style_switch.py``). The time from the
control input to the first new-style frame written to the sink is in telemetry and the log.
Forced passthrough (the user's switch) writes source frames with no overlay while the engine keeps
running warm.

Hot reload (``watch_profile``): a saved profile that validates is applied between ticks: style
changes (prompts, strength / steps, seed, models, hotkeys, added / removed styles) as a new
``SetStyle`` for the style on air; an [engine] or [models] (preset, vae, depth) change restarts
the engine process, with passthrough covering the reload; a [source] change reconnects the source
at once; [output] and [watchdog] apply from the next tick;
[sink] / [[sinks]] and engine.width / height apply at the next start (reopening the sink would drop the
virtual camera or NDI source viewers are watching). An invalid save is logged with its error and
the running configuration stays.

Shutdown stops the source, the engine (stop message, then SIGTERM, then SIGKILL) and the sinks,
and unlinks every ring.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Profile, ProfileError
from ..config.save import Saved, save_edits
from ..config.watch import ProfileWatcher
from ..control.actions import ActionResult, ProfileRejected, ReloadProfile, SelectStyle
from ..control.bus import ControlBus
from ..control.preview import PreviewFeeds, PreviewTap
from ..engine.translator import ModelKind
from ..media.backoff import Backoff
from ..media.frames import now_ns
from ..plugin_api import PluginError, Sink, Source
from .control_stage import ControlStage
from .engine_boot import EngineStart
from .engine_keeper import EngineKeeper
from .messages import EngineSpec, Flush, Reset, StyleEvent
from .output_clock import OutputClock
from .output_stage import OutputStage
from .shm_sweep import RingOwnership, sweep_stale_segments
from .sinks import SinkSet, SinkSpec
from .source_stage import SourceStage
from .switch_tracker import SwitchTracker
from .telemetry import StreamState, Telemetry
from .transport import FrameRing, new_run_prefix

logger = logging.getLogger(__name__)


class FatalShowError(RuntimeError):
    """The show cannot go on and no restart would help (a model or source file that cannot be opened, an
    output frame rate that is not a positive number); the message names what and why. ``run`` exits 2."""


@dataclass(frozen=True)
class SupervisorOptions:
    model: ModelKind = "diffusion"  # "passthrough": identity engine (benchmarks, tests)
    fps: float | None = None  # output rate (run --fps); None: the profile's [output] fps, else the source's nominal fps
    overlay: bool = True  # status text on passthrough / no-signal frames
    input_capacity: tuple[int, int] = (1080, 1920)  # largest (height, width) the input ring carries
    ring_slots: int = 3
    source_timeout_s: float = 2.0  # no source frame this long: the source is lost, reconnect
    sink_failures_before_reopen: int = 3  # consecutive failed writes before the sink is closed and reopened
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    engine_stop_timeout_s: float = 5.0
    end_drain_s: float = 1.0  # after a finite source ends: keep writing engine outputs this long, then stop
    log_level: int = logging.INFO
    style_cache: int = 2  # prepared style model sets the engine keeps for instant switching back
    watch_interval_s: float = 0.5  # hot reload: how often the profile file is checked
    record_dir: str | None = None  # run --record: the engine writes input, output and timeline here



class Supervisor:
    """Runs one broadcast: ``run()`` blocks until ``duration`` passes or ``stop()`` is called."""

    def __init__(
        self,
        profile: Profile,
        source_factory: Callable[[], Source],
        sink_factory: Callable[[], Sink] | Sequence[SinkSpec],
        style: str | None = None,
        options: SupervisorOptions | None = None,
        telemetry: Telemetry | None = None,
        controls: ControlBus | None = None,
        watcher: ProfileWatcher | None = None,
        profile_path: str | Path | None = None,
        early_engine: EngineStart | None = None,
    ) -> None:
        """``early_engine``: an engine process ``run`` started ahead of its own imports (``engine_boot.py``);
        the first engine start uses it instead of spawning one."""
        self.options = options or SupervisorOptions()
        first_style = profile.style(style).name  # KeyError names the styles
        self.telemetry = telemetry or Telemetry()
        self.controls = controls or ControlBus()
        self.prefix = new_run_prefix()
        self.size = (profile.engine.height, profile.engine.width)
        self._watcher = watcher
        self.profile_path = Path(profile_path) if profile_path is not None else watcher.path if watcher is not None else None
        self._source_factory = source_factory
        # one sink factory (as a [sink] table) or several, each with the label logs and the status use
        specs = [SinkSpec("sink", sink_factory)] if callable(sink_factory) else list(sink_factory)
        self._switches = SwitchTracker(self.telemetry, first_style)
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._rings: list[FrameRing] = []
        self._ownership: RingOwnership | None = None  # the lock that says our rings are alive
        self._engine = EngineKeeper(self._engine_spec, self._ctx, self.telemetry, self._backoff(),
                                    self._on_style_event, self.options.engine_stop_timeout_s, early=early_engine)
        self._sinks = SinkSet(specs, self.telemetry, self._backoff, self.options.sink_failures_before_reopen)
        self._source: SourceStage | None = None  # created with the rings in _start
        self._output: OutputStage | None = None
        self.preview = PreviewTap()  # the newest frame written, for the dock's picture
        self._control_stage = ControlStage(profile, first_style, self.controls, self._engine, self.telemetry,
                                           self._switches, self.stop, self._restart_source,
                                           save=None if self.profile_path is None else self._save_edits)

    @property
    def profile(self) -> Profile:
        """The running profile (a reload replaces it)."""
        return self._control_stage.profile

    @property
    def style(self) -> str:
        """The style requested last (on air once the engine has it ready)."""
        return self._control_stage.style

    # --- public --------------------------------------------------------------------------------

    def run(self, duration: float | None = None, stop_event: threading.Event | None = None) -> None:
        """Start everything, feed the sink until ``duration`` s pass or a stop, then shut down."""
        deadline = None if duration is None else time.monotonic() + duration
        try:
            fps = self._start()
            self._loop(fps, deadline, stop_event)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def set_style(self, name: str) -> Future[ActionResult]:
        """Switch style mid-stream (thread-safe; what the controls do): KeyError for an unknown name."""
        self.profile.style(name)
        return self.controls.post(SelectStyle(name))

    def status(self) -> dict[str, Any]:
        """Telemetry plus the styles, JSON-ready (the control server's ``status``)."""
        data = self.telemetry.snapshot().as_dict()
        data["styles"] = [s.name for s in self.profile.styles]
        data["engine_pid"] = self.engine_pid
        data["params"] = self._control_stage.params()
        return data

    def preview_feeds(self) -> PreviewFeeds:
        """The dock's picture: the newest frame written to the sink and the newest source frame."""
        return PreviewFeeds({"output": self.preview.latest, "input": self._latest_input})

    def _latest_input(self) -> tuple[int, Any] | None:
        frame = self._source.latest().frame if self._source is not None else None
        return None if frame is None else (frame.pts_ns, frame.image)

    def reset(self) -> None:
        self._engine.send(Reset())

    @property
    def engine_pid(self) -> int | None:
        return self._engine.pid

    # --- wiring --------------------------------------------------------------------------------

    def _start(self) -> float:
        """Create every stage; returns the output fps. Plugin errors, a source that must open and cannot, and a
        bad frame rate surface here, before anything else starts."""
        options = self.options
        # 1. plugins: created (settings validated), the source opened (a file must open: fail fast)
        first_source = self._open_first_source()
        self._sinks.create()
        fps = options.fps or self.profile.output.fps or (first_source.fps if first_source is not None else 30.0)
        if not math.isfinite(fps) or fps <= 0:
            raise FatalShowError(f"the output frame rate must be a positive number of frames per second, got {fps!r} "
                                 "(run --fps, [output] fps or the source's fps setting)")
        # 2. rings: source -> engine (any size up to input_capacity), engine -> sink (model size);
        #    first the rings of crashed shows (their ring lock is free) are removed; ours are claimed first
        sweep_stale_segments()
        self._ownership = RingOwnership.claim(self.prefix)  # held until shutdown, dropped by the kernel on a crash
        in_ring = FrameRing.create(f"{self.prefix}-in", options.input_capacity, self._ctx, options.ring_slots)
        out_ring = FrameRing.create(f"{self.prefix}-out", self.size, self._ctx, options.ring_slots)
        self._rings = [in_ring, out_ring]
        # 3. engine process (spawn): loads the models while the sink already shows passthrough
        self._engine.heartbeat.limits = self.profile.watchdog
        self._engine.start()
        # 4. source thread: reads (and reconnects), publishes into the input ring
        self._source = SourceStage(self._source_factory, in_ring, self.telemetry, self._backoff(),
                                   on_end=lambda: self._engine.send(Flush()), timeout_s=options.source_timeout_s,
                                   capacity=options.input_capacity)
        self._source.start(first_source)
        if self._watcher is not None:
            threading.Thread(target=self._watch_profile, name="profile-watch", daemon=True).start()
        # 5. sinks at the model's size and the output rate, each on its own thread; the output stage fills every
        #    slot of its grid and hands each frame to all of them
        self._sinks.open(self.size[0], self.size[1], fps)
        self._output = OutputStage(self.size, in_ring, out_ring, self._sinks, self.telemetry, self.profile.output,
                                   options.overlay, tap=self.preview.offer)
        logger.info(
            "broadcast started: %s -> engine (%s, %dx%d) -> %s at %.2f fps; shm prefix %s",
            self.profile.source.plugin, options.model, self.size[1], self.size[0], self._sinks.describe(), fps, self.prefix,
        )
        return fps

    def _open_first_source(self) -> Source | None:
        """The source, opened. One that cannot be opened ends the start with a FatalShowError when its policy
        says so ([source] on_open_failure, else the plugin's retry_open: a file must open, a camera may come
        later); otherwise None: the source stage keeps trying (NO SIGNAL meanwhile)."""
        source = self._source_factory()
        section = self.profile.source
        retry = type(source).retry_open if section.on_open_failure == "auto" else section.on_open_failure == "retry"
        try:
            source.open()
        except Exception as exc:
            source.close("could not be opened")
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluginError) else str(exc)
            if not retry:
                raise FatalShowError(f"the source cannot be opened: {reason}") from None
            logger.warning("the source cannot be opened yet (%s); NO SIGNAL while it keeps trying ([source] "
                           "on_open_failure = %r)", reason, section.on_open_failure)
            self.telemetry.add("source_reconnects")
            return None
        return source

    def _engine_spec(self) -> EngineSpec:
        """What a (re)started engine runs: the current profile, in the requested style."""
        in_ring, out_ring = self._rings
        style = self._control_stage.restart_message().name
        self._switches.engine_restarted(style)
        return EngineSpec(
            profile=self.profile.model_dump(),
            style=style,
            input=in_ring.handle,
            output=out_ring.handle,
            model=self.options.model,
            log_level=self.options.log_level,
            style_cache=self.options.style_cache,
            record_dir=self.options.record_dir,
        )

    def _save_edits(self, edits: dict[str, dict[str, Any]]) -> Saved:
        """``save``: the live edits into the profile file; the watcher is told first, so it does not report
        the show's own save back as an edit."""
        assert self.profile_path is not None
        watcher = self._watcher
        registry = watcher.registry if watcher is not None else None
        return save_edits(self.profile_path, edits, registry, check_plugins=watcher is None or watcher.check_plugins,
                          around_write=None if watcher is None else watcher.own_write)

    def _restart_source(self) -> None:
        if self._source is not None:
            self._source.restart()

    def _backoff(self) -> Backoff:
        return Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)

    # --- the sink loop -------------------------------------------------------------------------

    def _loop(self, fps: float, deadline: float | None, stop_event: threading.Event | None) -> None:
        """Per tick: controls, live settings, engine watch, then a frame into every due slot of the output grid."""
        assert self._source is not None and self._output is not None
        clock = OutputClock(fps, now_ns())
        while not self._stop.is_set() and not (stop_event is not None and stop_event.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            ended = self._source.ended_at
            if ended is not None and time.monotonic() - ended > self.options.end_drain_s:
                logger.info("source ended and engine drained: stopping")
                break
            self._control_stage.tick()
            self._output.settings = self.profile.output  # cheap settings apply live (a profile reload)
            self._engine.heartbeat.limits = self.profile.watchdog
            self._engine.watch()
            if self._engine.fatal is not None:
                raise FatalShowError(self._engine.fatal)
            written = self._output.tick(clock.due(now_ns()), self._source, self._engine,
                                        self._control_stage.forced_passthrough)
            if written is not None:
                for published in self._switches.on_engine_frame(written, now_ns()):
                    self.controls.publish(published)
            if clock.skipped:
                self.telemetry.set(slots_skipped=clock.skipped)
            delay = (clock.next_due_ns() - now_ns()) / 1e9
            if delay > 0:
                self._stop.wait(delay)

    def _on_style_event(self, event: StyleEvent) -> None:
        for published in self._switches.on_event(event):
            self.controls.publish(published)

    # --- the profile watcher (its own thread; reloads reach the control stage as actions) ------------

    def _watch_profile(self) -> None:
        watcher = self._watcher
        assert watcher is not None
        for result in watcher.watch(self.options.watch_interval_s, self._stop):
            if isinstance(result, ProfileError):
                logger.error("profile edit rejected, the show keeps its running configuration:\n%s", result)
                self.controls.publish(ProfileRejected(str(watcher.path), str(result)))
            else:
                self.controls.post(ReloadProfile(result, str(watcher.path), origin="reload"))

    def _shutdown(self) -> None:
        self._stop.set()
        self.controls.cancel_all("the broadcast is stopping")
        self.telemetry.set(state=StreamState.STOPPED)
        if self._source is not None:
            self._source.stop()
        self._engine.stop("shutdown")
        self._sinks.close("shutdown")
        for ring in self._rings:
            ring.close()
            ring.unlink()
        if self._ownership is not None:
            self._ownership.release()
        logger.info("broadcast stopped: %s", self.telemetry.snapshot().status_line())
