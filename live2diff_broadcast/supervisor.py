"""Wires source -> engine -> sink and keeps the output flowing whatever fails.

Processes and threads (all wiring is in ``Supervisor._start``)::

    source thread ──(input ring, shm)──> engine process ──(output ring, shm)──> sink loop
          │                               ↑ control / events (pipe)                ↑
          └──────────── latest source frame (passthrough) ─────────────────────────┘

Resolution and aspect: the sink is opened at the model's size (``engine.width`` x
``engine.height``) and the source's nominal fps. Source frames go into the input ring at
their own size (frames larger than ``input_capacity`` are first scaled down to fit it,
keeping the aspect, logged once); the translator then scale-and-crops them to cover the
model size (no bars, no distortion). Passthrough frames get the very same crop, so the
picture does not jump when the engine goes live or drops out. Sinks scale the model-size
frames to their own resolution if they have one.

Timing: every frame a sink receives carries the pts_ns its content was captured with (the
engine's outputs are mapped back to their input by frame index) and pts_ns strictly
increases from one written frame to the next. The sink loop ticks at the sink fps and writes
at most one frame per tick:

1. the engine is live and has an output newer than the last written frame: write it (live);
2. the engine is live and not stalled: write nothing and wait for it. Right after it goes
   live this is a gap of one engine latency (capture -> engine output): its first outputs
   are older than the last passthrough frame shown, so they are dropped (counted) to keep
   pts_ns increasing. On a GPU that is ~0.1-0.2 s; a CPU-bound engine can take seconds;
3. the engine is loading, warming up, dead/restarting, or live but has produced no output
   at all for ``stall_after_s``: write the newest source frame (passthrough, with a small
   status overlay);
4. the source has delivered nothing for ``hold_after_s``: write the last written image (or
   a black card) marked NO SIGNAL, stamped with the tick's own time.

Controls (``control/``): hotkeys, terminal keys and the control server post typed actions on
``self.controls`` (a ControlBus); the sink loop takes them between ticks. Style actions fold into
one target (the last request wins) sent as one ``SetStyle``; the engine holds the previous style
until the new one is ready and warm, then cuts (``engine/style_switch.py``). The time from the
control input to the first new-style frame written to the sink is in telemetry and the log.
Forced passthrough (the user's switch) writes source frames with no overlay while the engine keeps
running warm; going back costs one engine latency (its outputs are older than what was shown).

Hot reload (``watch_profile``): a saved profile that validates is applied between ticks: style
changes (prompts, strength / steps, seed, models, hotkeys, added / removed styles) as a new
``SetStyle`` for the style on air; an [engine] or [models] (preset, vae, depth) change restarts
the engine process, with passthrough covering the reload; a [source] change reconnects the source;
[sink] and engine.width / height apply at the next start (reopening the sink would drop the
virtual camera or NDI source viewers are watching). An invalid save is logged with its error and
the running configuration stays.

A dead engine is restarted with exponential backoff (reset once it is live again); a lost
source (open/read errors, or no frame for ``source_timeout_s``) is reconnected with
exponential backoff (reset once it delivers again); a sink that fails
``sink_failures_before_reopen`` writes in a row is closed and opened afresh from its factory, with
backoff (``sink_keeper.py``). Shutdown stops the source, the engine
(stop message, then SIGTERM, then SIGKILL) and the sink, and unlinks every ring.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .backoff import Backoff
from .config import Profile, ProfileError
from .control.actions import (
    STYLE_ACTIONS,
    Action,
    ActionResult,
    ProfileRejected,
    ProfileReloaded,
    Quit,
    ReloadProfile,
    SelectStyle,
    TogglePassthrough,
)
from .control.actions import Rewarm as RewarmAction
from .control.bus import ControlBus
from .control.reload import plan_reload
from .control.styles import StyleSelector
from .control.tracker import SwitchTracker
from .engine_process import (
    BackendEvent,
    EngineProcess,
    EngineSpec,
    EngineState,
    ErrorEvent,
    Flush,
    FrameEvent,
    ModelKind,
    Reset,
    Rewarm,
    SetStyle,
    StateEvent,
    StyleEvent,
    style_message,
)
from .frames import Frame, now_ns
from .overlay import status_caption
from .plugin_api import EndOfStream, Sink, Source
from .profile_watch import ProfileWatcher
from .resize import fit_frame
from .sink_keeper import SinkKeeper
from .telemetry import StreamState, Telemetry
from .transport import FrameRing, RingFrame, new_run_prefix

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupervisorOptions:
    model: ModelKind = "diffusion"  # "passthrough": identity engine (benchmarks, tests)
    fps: float | None = None  # sink rate; None: the source's nominal fps
    overlay: bool = True  # status text on passthrough / no-signal frames
    input_capacity: tuple[int, int] = (1080, 1920)  # largest (height, width) the input ring carries
    ring_slots: int = 3
    source_timeout_s: float = 2.0  # no source frame this long: the source is lost, reconnect
    sink_failures_before_reopen: int = 3  # consecutive failed writes before the sink is closed and reopened
    hold_after_s: float = 0.5  # no source frame this long: NO SIGNAL frames
    stall_after_s: float = 5.0  # live engine with no output at all this long while input flows: passthrough
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    engine_stop_timeout_s: float = 5.0
    end_drain_s: float = 1.0  # after a finite source ends: keep writing engine outputs this long, then stop
    log_level: int = logging.INFO
    style_cache: int = 2  # prepared style model sets the engine keeps for instant switching back
    watch_interval_s: float = 0.5  # hot reload: how often the profile file is checked


class _SourceRestart(Exception):
    """The source's settings changed: close it and open it again (not a failure: no backoff)."""


class Supervisor:
    """Runs one broadcast: ``run()`` blocks until ``duration`` passes or ``stop()`` is called."""

    def __init__(
        self,
        profile: Profile,
        source_factory: Callable[[], Source],
        sink_factory: Callable[[], Sink],
        style: str | None = None,
        options: SupervisorOptions | None = None,
        telemetry: Telemetry | None = None,
        controls: ControlBus | None = None,
        watcher: ProfileWatcher | None = None,
    ) -> None:
        self.profile, self.options = profile, options or SupervisorOptions()
        self.style = profile.style(style).name  # KeyError names the styles
        self.telemetry = telemetry or Telemetry()
        self.controls = controls or ControlBus()
        self._watcher = watcher
        self._selector = StyleSelector([s.name for s in profile.styles], self.style)
        self._switches = SwitchTracker(self.telemetry, self.style)
        self._sent: SetStyle | None = None  # the last style message sent to the engine
        self._request_id = 0
        self._forced_passthrough = False
        self._restart_source = threading.Event()
        self._retiring: threading.Thread | None = None  # an engine being stopped for a restart
        self._source_factory, self._sink_factory = source_factory, sink_factory
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.prefix = new_run_prefix()
        self.size = (profile.engine.height, profile.engine.width)
        # state owned by the source thread, read by the sink loop (under _lock)
        self._source_frame: Frame | None = None
        self._source_frame_at = 0  # now_ns() when it arrived
        self._source_last_pts = -1
        self._warned_oversize = False
        self._source_ended_at: float | None = None  # monotonic time a finite source raised EndOfStream
        # state owned by the sink loop
        self._engine: EngineProcess | None = None
        self._engine_state = "starting"
        self._engine_backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        self._engine_restart_at = 0.0
        self._engine_output_at = 0  # now_ns() of the engine's last output (shown or not), or of going live
        self._pending: RingFrame | None = None
        self._last_pts = -1
        self._last_image: np.ndarray | None = None
        self._stale_outputs = 0
        self._out_seq = 0
        self._started_at = 0
        self._in_ring: FrameRing | None = None
        self._out_ring: FrameRing | None = None
        self._source_thread: threading.Thread | None = None
        self._sink = SinkKeeper(
            sink_factory, self.telemetry, Backoff(self.options.backoff_initial_s, self.options.backoff_max_s),
            self.options.sink_failures_before_reopen,
        )

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
        return data

    def reset(self) -> None:
        if self._engine is not None:
            self._engine.send(Reset())

    @property
    def engine_pid(self) -> int | None:
        return None if self._engine is None else self._engine.pid

    # --- controls (sink thread, between ticks) ----------------------------------------------------

    def _handle_controls(self) -> None:
        """Take every waiting action; style actions fold into one SetStyle (the last request wins)."""
        latest: Action | None = None
        for action, future in self.controls.take():
            try:
                result = self._control(action)
            except Exception as exc:  # a bad action must never stop the show
                logger.exception("control action %r failed", action)
                result = ActionResult(False, f"{type(exc).__name__}: {exc}")
            if isinstance(action, STYLE_ACTIONS) and result.ok:
                latest = action
            future.set_result(result)
        if latest is not None:
            self._request_style(latest.at_ns, latest.origin)

    def _control(self, action: Action) -> ActionResult:
        if isinstance(action, STYLE_ACTIONS):
            return self._selector.apply(action)
        if isinstance(action, TogglePassthrough):
            on = not self._forced_passthrough if action.on is None else action.on
            if on != self._forced_passthrough:
                logger.info("passthrough %s (%s)", "ON: the camera as it is" if on else "off: AI output", action.origin)
            self._forced_passthrough = on
            self.telemetry.set(forced_passthrough=on)
            return ActionResult(True, f"passthrough {'on' if on else 'off'}", passthrough=on)
        if isinstance(action, RewarmAction):
            if self._engine is None:
                return ActionResult(False, "the engine is restarting; it warms up on its own")
            self._engine.send(Rewarm())
            return ActionResult(True, f"re-warming style {self.style!r}", self.style)
        if isinstance(action, Quit):
            logger.info("quit (%s)", action.origin)
            self.stop()
            return ActionResult(True, "stopping")
        if isinstance(action, ReloadProfile):
            return self._reload(action.profile, action.path)
        raise TypeError(f"unknown control action {action!r}")

    def _request_style(self, at_ns: int, origin: str) -> None:
        """Send the selector's target to the engine unless that exact style is already requested."""
        message = style_message(self.profile, self._selector.target, self._request_id + 1, at_ns)
        sent = self._sent
        if sent is not None and (sent.name, sent.prompt, sent.config, sent.models) == (
            message.name, message.prompt, message.config, message.models
        ):
            return
        self._request_id += 1
        self.style, self._sent = message.name, message
        self._switches.requested(message.name, message.request_id, at_ns, origin)
        logger.info("style %r requested (%s)", message.name, origin)
        if self._engine is not None:
            self._engine.send(message)

    def _reload(self, new: Profile, path: str) -> ActionResult:
        plan = plan_reload(self.profile, new)
        for line in plan.lines:
            logger.info("profile %s reloaded: %s", path, line)
        self.profile = plan.profile
        self._selector.update_names([s.name for s in plan.profile.styles])
        if plan.restart_engine:
            self._restart_engine("profile changed")
        else:
            self._request_style(now_ns(), "reload")  # nothing if the style on air is unchanged
        if plan.restart_source:
            self._restart_source.set()
        self.controls.publish(ProfileReloaded(path, plan.lines))
        return ActionResult(True, "; ".join(plan.lines), self._selector.target)

    def _restart_engine(self, reason: str) -> None:
        """Stop the engine in the background (passthrough meanwhile); _watch_engine starts the new one."""
        engine, self._engine = self._engine, None
        self._engine_state = "restarting"
        self._engine_restart_at = time.monotonic()
        if engine is not None:
            self._retiring = threading.Thread(target=engine.stop, args=(reason, self.options.engine_stop_timeout_s),
                                              name="engine-stop", daemon=True)
            self._retiring.start()

    def _watch_profile(self) -> None:
        watcher = self._watcher
        assert watcher is not None
        for result in watcher.watch(self.options.watch_interval_s, self._stop):
            if isinstance(result, ProfileError):
                logger.error("profile edit rejected, the show keeps its running configuration:\n%s", result)
                self.controls.publish(ProfileRejected(str(watcher.path), str(result)))
            else:
                self.controls.post(ReloadProfile(result, str(watcher.path), origin="reload"))

    # --- wiring --------------------------------------------------------------------------------

    def _start(self) -> float:
        """Create every stage; returns the sink fps. Plugin errors surface here, before any frame."""
        # 1. plugins: created (settings validated) before anything else starts
        first_source = self._source_factory()
        sink = self._sink_factory()
        fps = self.options.fps or first_source.fps
        # 2. rings: source -> engine (any size up to input_capacity), engine -> sink (model size)
        self._in_ring = FrameRing.create(f"{self.prefix}-in", self.options.input_capacity, self._ctx, self.options.ring_slots)
        self._out_ring = FrameRing.create(f"{self.prefix}-out", self.size, self._ctx, self.options.ring_slots)
        # 3. engine process (spawn): loads the models while the sink already shows passthrough
        self._start_engine()
        # 4. source thread: connects (and reconnects), publishes into the input ring
        self._source_thread = threading.Thread(target=self._source_loop, args=(first_source,), name="source", daemon=True)
        self._source_thread.start()
        if self._watcher is not None:
            threading.Thread(target=self._watch_profile, name="profile-watch", daemon=True).start()
        # 5. sink: the model's size at the source's rate
        self._sink.open(sink, self.size[0], self.size[1], fps)
        self._started_at = now_ns()
        logger.info(
            "broadcast started: %s -> engine (%s, %dx%d) -> %s at %.2f fps; shm prefix %s",
            type(first_source).__name__, self.options.model, self.size[1], self.size[0], type(sink).__name__, fps, self.prefix,
        )
        return fps

    def _start_engine(self) -> None:
        assert self._in_ring is not None and self._out_ring is not None
        self.style = self._selector.target  # a (re)started engine starts in the requested style
        spec = EngineSpec(
            profile=self.profile.model_dump(),
            style=self.style,
            input=self._in_ring.handle,
            output=self._out_ring.handle,
            model=self.options.model,
            log_level=self.options.log_level,
            style_cache=self.options.style_cache,
        )
        self._sent = style_message(self.profile, self.style)
        self._switches.engine_restarted(self.style)
        self._engine = EngineProcess(spec, self._ctx)
        self._engine.start()
        self._engine_state = "loading"

    def _shutdown(self) -> None:
        self._stop.set()
        self.controls.cancel_all("the broadcast is stopping")
        if self._retiring is not None:
            self._retiring.join(timeout=self.options.engine_stop_timeout_s + 5)
        self.telemetry.set(state=StreamState.STOPPED)
        if self._source_thread is not None:
            self._source_thread.join(timeout=5.0)
            if self._source_thread.is_alive():
                logger.error("source thread did not stop within 5 s (a plugin read() ignoring its timeout?)")
        if self._engine is not None:
            self._engine.stop("shutdown", self.options.engine_stop_timeout_s)
            self._engine = None
        self._sink.close("shutdown")
        for ring in (self._in_ring, self._out_ring):
            if ring is not None:
                ring.close()
                ring.unlink()
        logger.info("broadcast stopped: %s", self.telemetry.snapshot().status_line())

    # --- source thread -------------------------------------------------------------------------

    def _source_loop(self, source: Source | None) -> None:
        backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        name = "source"
        while not self._stop.is_set():
            reason = "stopped"
            try:
                if source is None:
                    source = self._source_factory()
                name = f"source {type(source).__name__}"
                source.open()
                logger.info("%s connected", name)
                last = time.monotonic()
                while not self._stop.is_set():
                    if self._restart_source.is_set():
                        self._restart_source.clear()
                        raise _SourceRestart("the profile's [source] changed")
                    frame = source.read(timeout=0.2)
                    if frame is not None:
                        last = time.monotonic()
                        backoff.reset()
                        self._on_source_frame(frame)
                    elif time.monotonic() - last > self.options.source_timeout_s:
                        raise TimeoutError(f"no frame for {self.options.source_timeout_s:.1f} s")
            except EndOfStream as exc:
                logger.info("%s ended (%s): draining the engine for %.1f s, then stopping", name, exc, self.options.end_drain_s)
                reason = "end of stream"
                engine = self._engine
                if engine is not None:
                    engine.send(Flush())  # the last n - 1 frames are still in the pipeline
                self._source_ended_at = time.monotonic()
                return
            except _SourceRestart as exc:
                reason = str(exc)
                logger.info("%s: %s, reopening it (NO SIGNAL meanwhile)", name, reason)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                delay = backoff.next()
                logger.warning("%s lost (%s); reconnecting in %.1f s, the sink keeps running", name, reason, delay,
                               exc_info=not isinstance(exc, TimeoutError))
                self.telemetry.add("source_reconnects")
                self._stop.wait(delay)
            finally:
                if source is not None:
                    try:
                        source.close(reason)
                    except Exception:
                        logger.exception("%s failed to close", name)
                source = None

    def _on_source_frame(self, frame: Frame) -> None:
        if frame.pts_ns <= self._source_last_pts:
            logger.warning("source frame seq %d has pts %d <= the previous %d; dropped", frame.seq, frame.pts_ns, self._source_last_pts)
            return
        self._source_last_pts = frame.pts_ns
        image = self._fit_capacity(frame.image)
        assert self._in_ring is not None
        self._in_ring.write(image, frame.pts_ns, frame.seq)
        with self._lock:
            self._source_frame, self._source_frame_at = frame, now_ns()
        self.telemetry.frame_in()

    def _fit_capacity(self, image: np.ndarray) -> np.ndarray:
        cap_h, cap_w = self.options.input_capacity
        h, w = image.shape[:2]
        if h <= cap_h and w <= cap_w:
            return image
        scale = min(cap_h / h, cap_w / w)
        if not self._warned_oversize:
            logger.warning("source frames are %dx%d, larger than the input ring's %dx%d: scaling them down by %.3f",
                           w, h, cap_w, cap_h, scale)
            self._warned_oversize = True
        return cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)

    # --- sink loop -----------------------------------------------------------------------------

    def _loop(self, fps: float, deadline: float | None, stop_event: threading.Event | None) -> None:
        period = 1.0 / fps
        next_tick = time.monotonic()
        while not self._stop.is_set() and not (stop_event is not None and stop_event.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            ended = self._source_ended_at
            if ended is not None and time.monotonic() - ended > self.options.end_drain_s:
                logger.info("source ended and engine drained: stopping")
                break
            self._handle_controls()
            self._watch_engine()
            self._tick()
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay < -period:
                next_tick = time.monotonic()  # fell behind (slow sink): do not burst to catch up
            elif delay > 0:
                self._stop.wait(delay)

    def _watch_engine(self) -> None:
        now = time.monotonic()
        if self._engine is None:
            if self._retiring is not None and self._retiring.is_alive():
                return  # the old engine is still stopping (a profile change restarts it)
            if now >= self._engine_restart_at:
                logger.warning("restarting the engine process")
                self.telemetry.add("engine_restarts")
                self._start_engine()
                self._engine_state = "loading"
            return
        for event in self._engine.events():
            if isinstance(event, StateEvent):
                logger.info("engine: %s", event.state.value)
                self._engine_state = event.state.value
                if event.state is EngineState.LIVE:
                    self._engine_backoff.reset()
                    self._engine_output_at = now_ns()
            elif isinstance(event, FrameEvent):
                self._engine_output_at = now_ns()
                self.telemetry.engine_frame(event.latency_ns)
            elif isinstance(event, StyleEvent):
                for published in self._switches.on_event(event):
                    self.controls.publish(published)
            elif isinstance(event, BackendEvent):
                self.telemetry.set(backend=event.active, backend_fallback=event.fallback_reason)
            elif isinstance(event, ErrorEvent):
                logger.error("engine reported an error (traceback above in its log)")
        if not self._engine.is_alive():
            code = self._engine.process.exitcode
            delay = self._engine_backoff.next()
            logger.error("engine process pid %s died (exit code %s); passthrough meanwhile, restarting in %.1f s",
                         self._engine.pid, code, delay)
            self._engine.stop("died")
            self._engine = None
            self._engine_state = "dead"
            self._engine_restart_at = now + delay
        self.telemetry.set(engine_state=self._engine_state)

    def _tick(self) -> None:
        assert self._out_ring is not None
        t = now_ns()
        newest = self._out_ring.poll()
        if newest is not None:
            self._pending = newest
        with self._lock:
            source, source_at = self._source_frame, self._source_frame_at
        source_lost = (source is None and t - self._started_at > self.options.hold_after_s * 1e9) or (
            source is not None and t - source_at > self.options.hold_after_s * 1e9
        )
        live = self._engine is not None and self._engine_state == EngineState.LIVE.value
        stalled = live and t - self._engine_output_at > self.options.stall_after_s * 1e9 and not source_lost
        pending = self._pending
        if pending is not None and pending.pts_ns <= self._last_pts:
            self._stale_outputs += 1  # older than what is already on screen
            self._pending = pending = None
        # 0. the user switched the AI output off: the source as it is, no overlay
        if self._forced_passthrough:
            if source is not None and not source_lost and source.pts_ns > self._last_pts:
                self._write(fit_frame(source.image, *self.size), source.pts_ns, "passthrough", StreamState.PASSTHROUGH)
            return
        # 1. restyled frame
        if live and pending is not None:
            self._pending = None
            if self._write(pending.image, pending.pts_ns, "engine", StreamState.LIVE):
                for published in self._switches.on_engine_frame(pending.frame_index, now_ns()):
                    self.controls.publish(published)
            return
        # 2. the engine sets the pace
        if live and not stalled and not source_lost:
            self.telemetry.set(state=StreamState.LIVE)
            return
        # 3. passthrough
        if source is not None and not source_lost and source.pts_ns > self._last_pts:
            state = (
                StreamState.PASSTHROUGH if stalled
                else StreamState.RESTARTING if self._engine is None
                else StreamState.WARMING_UP
            )
            image = fit_frame(source.image, *self.size)
            self._write(self._caption(image, state), source.pts_ns, "passthrough", state)
            return
        # 4. no signal (not after a finite source ended: that is the end of the show)
        if source_lost and self._source_ended_at is None:
            base = self._last_image if self._last_image is not None else np.zeros((*self.size, 3), np.uint8)
            self._write(self._caption(base, StreamState.NO_SIGNAL), max(t, self._last_pts + 1), "hold", StreamState.NO_SIGNAL)

    def _write(self, image: np.ndarray, pts_ns: int, kind: str, state: StreamState) -> bool:
        if not self._sink.write(Frame(image, pts_ns, self._out_seq)):
            return False
        self._out_seq += 1
        self._last_pts = pts_ns
        if kind != "hold":
            self._last_image = image
        assert self._in_ring is not None and self._out_ring is not None
        self.telemetry.frame_out(passthrough=kind != "engine")
        self.telemetry.set(
            state=state,
            dropped_input=self._in_ring.stats().writer_drops,
            dropped_output=self._out_ring.stats().reader_drops + self._stale_outputs,
        )
        return True

    def _caption(self, image: np.ndarray, state: StreamState) -> np.ndarray:
        return status_caption(image, state, self._engine_state) if self.options.overlay else image
