"""The engine process: owns the models, turns input-ring frames into output-ring frames.

Child side (``engine_main``), per input frame:
  1. read the newest frame from the input ring (older ones are dropped and counted);
  2. remember its pts_ns / seq under the translator's input index (pushes counted from 0);
  3. push it through the translator (warmup: nothing for ``warmup`` frames, then one out per in);
  4. write each output to the output ring with the ORIGINAL pts_ns and seq of its input;
  5. report the frame (latency = now - pts_ns, compute time) and state changes as events.

Control messages (``messages.py``: ``SetStyle``, ``SetPrompt``, ``RewarmSinks``, ``Reset``, ``Flush``, ``Stop``) are
handled between frames; style switches follow the policy of ``engine/style_switch.py`` (hold the
previous style until the new one is ready and warm, then cut; models prepared in the background;
the last request wins) and are reported as ``StyleEvent``s. The child
ignores SIGINT (Ctrl+C reaches the whole process group; the parent decides) and exits on its
own when the parent dies or the channel closes, so it can never be orphaned: a watcher thread
(``parent_watch.py``) notices the parent's death even during a long load, unlinks the rings the
dead parent owned and exits. A heartbeat thread (``heartbeat.py``) carries the loop's progress (what it
is doing, and when it last finished a stage of the frame path, a re-warm step or a load step) so the
keeper can tell a slow engine from a hung one.

A model file that cannot be found or read while loading (``WeightsError``) is a configuration error
no restart can fix: the engine reports it as a fatal ``ErrorEvent`` and exits with ``EXIT_FATAL``.

Parent side: ``EngineProcess`` starts the child with the spawn method and wraps its channel.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shlex
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..assembly import build_switcher, build_translator
from ..config import Profile
from ..engine.prompt_fit import fit_prompt
from ..engine.style_switch import StyleSwitcher, models_key
from ..engine.translator import Translator
from ..media.frames import now_ns
from ..weights.errors import WeightsError
from .engine_stop import EngineStopping, StopFlag, StopRequest, StopWatch
from .heartbeat import Progress, start_heartbeat
from .messages import (
    BackendEvent,
    EngineSpec,
    EngineState,
    ErrorEvent,
    Flush,
    FrameEvent,
    LoraEvent,
    MoveLoraFader,
    Reset,
    RewarmSinks,
    SetBlend,
    SetPrompt,
    SetStyle,
    StateEvent,
    StatsEvent,
    Stop,
    StyleEvent,
    style_message,
)
from .parent_watch import watch_parent
from .recorder import Recorder, style_commands
from .shm_sweep import release_orphaned
from .transport import ControlChannel, FrameRing, PipeEnd, RingFrame

logger = logging.getLogger(__name__)

EXIT_FATAL = 78  # EX_CONFIG: the models named in the profile cannot be loaded; the keeper does not restart

# --- child ----------------------------------------------------------------------------------


def engine_main(spec: EngineSpec, conn: Connection, stop_requested: StopRequest | None = None) -> None:
    """Entry point of the engine process. Ends the process itself (``_exit``), never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s engine %(name)s: %(message)s", stream=sys.stderr)
    channel = ControlChannel(conn)
    in_ring = FrameRing.attach(spec.input)
    out_ring = FrameRing.attach(spec.output)

    def orphaned() -> None:  # the show died without unlinking its rings: nobody else will
        in_ring.unlink_orphaned()
        out_ring.unlink_orphaned()
        release_orphaned(spec.input.name.rsplit("-", 1)[0])  # and its ring lock, which the kernel freed

    watch_parent(orphaned)
    finished = threading.Event()
    if stop_requested is not None:
        StopWatch(stop_requested, finished).start()
    loop = _EngineLoop(spec, channel, in_ring, out_ring)
    beating = threading.Event()
    start_heartbeat(channel.send, loop.progress, beating)
    code = 0
    try:
        loop.run()
        if loop.orphaned:
            orphaned()
    except _FatalLoad as exc:
        logger.error("engine cannot load its models: %s", exc)
        channel.send(ErrorEvent(str(exc), fatal=True))
        code = EXIT_FATAL
    except Exception:
        message = traceback.format_exc()
        logger.error("engine failed:\n%s", message)
        channel.send(ErrorEvent(message))
        code = 1
    finally:
        finished.set()
        beating.set()
        in_ring.close()
        out_ring.close()
    _exit(code)


def engine_main_when_told(conn: Connection, stop_requested: StopRequest | None = None) -> None:
    """Entry point of an engine started early (``engine_boot.py``): its libraries are imported; wait for
    the ``EngineSpec`` over the pipe, then run as ``engine_main``. Exits when the pipe closes, a ``Stop``
    comes first, or the parent dies while it waits."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            ready = conn.poll(0.5)
            message = conn.recv() if ready else None
        except (EOFError, OSError):
            _exit(0)
        if isinstance(message, EngineSpec):
            engine_main(message, conn, stop_requested)
        if isinstance(message, Stop) or (parent is not None and not parent.is_alive()):
            _exit(0)


def _exit(code: int) -> None:
    """End the engine process now, skipping Python's teardown of the interpreter.

    Everything that matters is done by now (rings closed, recorder closed, last events sent).
    Python's own teardown would free every module and tensor one by one and run C++ destructors:
    2-4 s with the tiny models on a loaded 2-core machine (measured), so the supervisor's 5 s
    wait ran out and it terminated the engine on every exit. The OS frees all of it at once."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _FatalLoad(Exception):
    """The profile's models cannot be loaded (missing, unreadable, refused): restarting cannot help."""


class _EngineLoop:
    def __init__(self, spec: EngineSpec, channel: ControlChannel, in_ring: FrameRing, out_ring: FrameRing) -> None:
        self.spec, self.channel, self.in_ring, self.out_ring = spec, channel, in_ring, out_ring
        self.state = EngineState.STOPPED
        self.meta: dict[int, tuple[int, int]] = {}  # input index -> (pts_ns, seq)
        self.pushed = 0
        self.emitted = 0
        self.switcher: StyleSwitcher  # built with the translator, in run()
        self.live_from = 0  # outputs of inputs from this index on mean "live" (after a reset: the new sinks)
        self._backend: tuple[str, str | None] | None = None  # last reported (active, fallback reason)
        self._loras: dict[str, float] | None = None  # last reported LoRA fader weights
        self.recorder: Recorder | None = None  # run --record
        self.profile: Profile  # the profile the engine was spawned with (built in run())
        self.progress = Progress()  # what the loop is doing and when it last moved on (the heartbeat carries it)
        self.orphaned = False  # the loop ended because the parent died
        self._prompts_checked: set[tuple[str, str, str]] = set()  # (style, prompt, template) warned about once

    def run(self) -> None:
        """Load, then translate frames until ``Stop``, a stop request (``engine_stop.py``) or the parent's death."""
        try:
            self._run()
        except EngineStopping as stopping:
            logger.info("engine stopping: the work in progress is dropped (%s)", stopping)
            self._finish()

    def _run(self) -> None:
        parent = multiprocessing.parent_process()
        self._set_state(EngineState.LOADING)
        profile = self.profile = Profile(**self.spec.profile)
        self.progress.mark("profile")
        try:
            translator = build_translator(profile, self.spec.style, self.spec.model)
        except WeightsError as exc:
            raise _FatalLoad(str(exc)) from exc
        self.progress.mark("models")
        translator.on_progress(self.progress.mark)
        initial = style_message(profile, self.spec.style)
        self._check_prompt(translator, initial)
        self.switcher = build_switcher(translator, initial.models, self.spec.model, self.spec.style_cache)
        self._report_backend(translator)
        if self.spec.record_dir is not None:
            self.recorder = Recorder(Path(self.spec.record_dir), self.spec.style, self.spec.record_fps)
        self.progress.end()
        self._set_state(EngineState.WARMING_UP)
        try:
            self._loop(translator, parent)
        except EngineStopping:
            self.switcher.close()
            raise
        finally:
            if self.recorder is not None:
                self.recorder.close()

    def _loop(self, translator: Translator, parent: Any) -> None:
        while True:
            for message in self.channel.receive_all():
                if isinstance(message, Stop):
                    logger.info("engine stopping: %s", message.reason)
                    self.switcher.close()
                    self._finish()
                    return
                self._control(translator, message)
            self.progress.begin("switch")  # applying a switch re-warms (a switch's load runs in the background)
            self._switch_styles(translator)
            self.progress.end()
            if self.channel.closed or (parent is not None and not parent.is_alive()):
                self.orphaned = parent is not None and not parent.is_alive()
                logger.warning("engine: the supervisor is gone; exiting")
                return
            frame = self.in_ring.read(timeout=0.05)
            if frame is not None:
                self._process(translator, frame)

    def _process(self, translator: Translator, frame: RingFrame) -> None:
        index = self.pushed
        self.pushed += 1
        self.meta[index] = (frame.pts_ns, frame.seq)
        if self.recorder is not None:
            self.recorder.input(frame.image)
        self.progress.begin("frame")
        started = now_ns()
        outputs = translator.push(frame.image)
        self._emit(outputs, now_ns() - started)
        self.progress.end()

    def _control(self, translator: Translator, message: object) -> None:
        """One control message; re-warms and flushes count as work for the watchdog."""
        busy = isinstance(message, RewarmSinks | SetPrompt | Flush)
        if busy:
            self.progress.begin("flush" if isinstance(message, Flush) else "rewarm")
        try:
            self._apply_control(translator, message)
        finally:
            if busy:
                self.progress.end()

    def _switch_styles(self, translator: Translator) -> None:
        """Apply the last requested style if it is ready (between frames); forward what happened."""
        for report in self.switcher.poll():
            r = report.request
            if report.status == "applied" and not report.outputs and translator.last_emitted < self.pushed - 1:
                self.live_from = self.pushed  # fewer recent frames than warmup: warming up afresh
                self._set_state(EngineState.WARMING_UP)
            if report.status == "applied" and self.recorder is not None:
                for command in style_commands(self.profile, r.name, r.prompt, r.config.t_index_list, r.config.seed,
                                              r.config.guidance):
                    self._record(command)
            self.channel.send(StyleEvent(r.name, r.request_id, r.at_ns, report.status, report.from_index,
                                         report.prepare_ms, report.rewarm_ms, report.cached, report.message))
            self._emit(report.outputs, int(report.rewarm_ms * 1e6))
            self._report_backend(translator)

    def _report_backend(self, translator: Translator) -> None:
        """Tell the supervisor which backend runs (a style on other models may fall back to eager), and
        the LoRA faders of the models on air."""
        active, reason = translator.active_backend, translator.backend_fallback_reason
        if (active, reason) != self._backend:
            self._backend = (active, reason)
            self.channel.send(BackendEvent(active, reason))
        loras = translator.lora_weights
        if loras != self._loras:
            self._loras = loras
            self.channel.send(LoraEvent(loras))

    def _apply_control(self, translator: Translator, message: object) -> None:
        if isinstance(message, SetStyle):
            logger.info("engine: style %r requested (request %d)", message.name, message.request_id)
            self._check_prompt(translator, message)
            self.switcher.request(message)  # applied by _switch_styles; a later request replaces it
        elif isinstance(message, SetBlend):
            self._blend(translator, message)
        elif isinstance(message, MoveLoraFader):
            try:
                translator.set_lora(message.name, message.weight)
            except (KeyError, ValueError) as exc:
                logger.error("engine: LoRA fader %r: %s; ignored", message.name, exc.args[0] if exc.args else exc)
            self._report_backend(translator)
        elif isinstance(message, RewarmSinks):
            started = now_ns()
            self._record("rewarm")
            outputs = translator.rewarm()
            logger.info("engine: re-warmed the current style in %.0f ms", (now_ns() - started) / 1e6)
            if not outputs:
                self.live_from = self.pushed
                self._set_state(EngineState.WARMING_UP)
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, SetPrompt):
            logger.info("engine: new prompt %.120r, re-warming", message.prompt)
            started = now_ns()
            outputs = translator.set_prompt(message.prompt)
            if not outputs:  # fewer recent frames than warmup: the stream starts over
                self.live_from = self.pushed
                self._set_state(EngineState.WARMING_UP)
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, Flush):
            last = self.in_ring.read(timeout=0.0)  # a frame written just before the Flush comes first
            if last is not None:
                self._process(translator, last)
            started = now_ns()
            outputs = translator.flush()
            logger.info("engine: source ended, flushed %d frames from the pipeline", len(outputs))
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, Reset):
            logger.info("engine: reset, warming up on the next frames")
            translator.reset()
            self.live_from = self.pushed
            self._set_state(EngineState.WARMING_UP)
        else:
            logger.error("engine: unknown control message %r (expected SetStyle, SetPrompt, RewarmSinks, Reset, Flush or Stop); ignored", message)

    def _check_prompt(self, translator: Translator, style: SetStyle) -> None:
        """Warn, once per style and prompt, when the text encoder reads only the start of the prompt."""
        tokenizer = getattr(translator.components, "tokenizer", None)
        key = (style.name, style.prompt, style.config.prompt_template)
        if tokenizer is None or key in self._prompts_checked:
            return
        if len(self._prompts_checked) > 1024:  # profiles edited live for hours: stay bounded
            self._prompts_checked.clear()
        self._prompts_checked.add(key)
        fit = fit_prompt(tokenizer, style.config.prompt_template.format(style.prompt))
        if fit.ignored:  # the tiny stand-in reads a letter per token, 14 of them: said, but not as a warning
            level = logging.INFO if style.models.get("preset") == "tiny" else logging.WARNING
            logger.log(level, "style %r: its prompt is longer than the %d tokens the text encoder reads; the rest, "
                       "from %r on, is ignored (shorten the prompt or its template)", style.name, fit.limit, fit.ignored)

    def _blend(self, translator: Translator, message: SetBlend) -> None:
        """A fader position between two styles on the models on air; a refusal is logged, the show goes on."""
        a, b = message.a, message.b
        self._check_prompt(translator, a)
        self._check_prompt(translator, b)
        if {models_key(a.models), models_key(b.models)} != {self.switcher.current_key}:
            logger.error("engine: blend %r/%r refused: both styles must run on the models on air; ignored", a.name, b.name)
            return
        try:
            translator.blend((a.config, a.prompt), (b.config, b.prompt), message.t)
        except ValueError as exc:
            logger.error("engine: blend %r/%r refused: %s", a.name, b.name, exc)
            return
        self._record(f"blend {shlex.quote(a.name)} {shlex.quote(b.name)} {message.t!r}")

    def _record(self, command: str) -> None:
        """A control that applied before input frame ``self.pushed`` (run --record's timeline)."""
        if self.recorder is not None:
            self.recorder.event(self.pushed, command)

    def _emit(self, outputs: list[tuple[int, np.ndarray]], compute_ns: int) -> None:
        for index, image in outputs:
            meta = self.meta.get(index)
            if meta is None:
                logger.error("engine: output for input index %d which was never pushed; dropped", index)
                continue
            pts_ns, seq = meta
            if self.recorder is not None:
                self.recorder.output(image)
            self.out_ring.write(image, pts_ns, seq, index)
            self.emitted += 1
            self.channel.send(FrameEvent(index, pts_ns, now_ns() - pts_ns, compute_ns))
            if self.state is not EngineState.LIVE and index >= self.live_from:
                self._set_state(EngineState.LIVE)
        oldest = self.pushed - 256  # bounded: the pipeline never holds frames this old
        for stale in [i for i in self.meta if i < oldest]:
            del self.meta[stale]

    def _set_state(self, state: EngineState, message: str = "") -> None:
        self.state = state
        self.channel.send(StateEvent(state, message))

    def _finish(self) -> None:
        self._set_state(EngineState.STOPPED)
        self.channel.send(StatsEvent(time.process_time(), self.pushed, self.emitted))


# --- parent ---------------------------------------------------------------------------------


class EarlyStart(Protocol):
    """An engine process started ahead of the show, waiting for its spec (``engine_boot.EngineStart``)."""

    process: BaseProcess
    conn: PipeEnd
    stop_requested: Any


class EngineProcess:
    """Parent-side handle: start, talk to and stop one engine process."""

    def __init__(self, spec: EngineSpec, ctx: BaseContext, early: EarlyStart | None = None) -> None:
        """``early``: a process started ahead of the show (``engine_boot.py``); ``start`` sends it ``spec``."""
        self.spec, self.ctx, self._early = spec, ctx, early
        self._heard_from = False  # the child has sent something: its libraries are imported
        if early is not None:
            self.channel = ControlChannel(early.conn)
            self._child_conn: PipeEnd | None = None
            self._stop_requested = early.stop_requested
            self.process = early.process
            return
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.channel = ControlChannel(parent_conn)
        self._child_conn = child_conn
        self._stop_requested = StopFlag(ctx)  # engine_stop.py: interrupts a frame in progress
        self.process = ctx.Process(target=engine_main, args=(spec, child_conn, self._stop_requested),  # type: ignore[attr-defined]
                                   name="live2diff-engine", daemon=True)

    def start(self) -> None:
        if self._early is not None:
            self.channel.send(self.spec)
            logger.info("engine process started (pid %s, model %s; started early, its imports under way or done)",
                        self.process.pid, self.spec.model)
            return
        self.process.start()
        assert self._child_conn is not None
        self._child_conn.close()  # the child holds its own copy; ours would hide EOF
        logger.info("engine process started (pid %s, model %s)", self.process.pid, self.spec.model)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: SetStyle | SetBlend | MoveLoraFader | SetPrompt | RewarmSinks | Reset | Flush | Stop) -> bool:
        return self.channel.send(message)

    def events(self, timeout: float = 0.0) -> list[Any]:
        received = self.channel.receive_all(timeout)
        self._heard_from = self._heard_from or bool(received)
        return received

    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> list[Any]:
        """Ask the engine to stop, then terminate / kill it if it does not; returns its last events.

        A healthy engine stops within ``engine_stop.STOP_GRACE_S`` (its frame in progress is
        interrupted). One that has not said a word yet is still importing its libraries (seconds on a
        loaded machine; it cannot act on a request before): it holds nothing, so it is ended at once."""
        events: list[Any] = self.events() if self.process.is_alive() else []
        if self.process.is_alive() and not self._heard_from:
            logger.info("engine pid %s was still starting (importing its libraries): ended at once (%s)",
                        self.process.pid, reason)
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self._stop_requested.set()
            self.send(Stop(reason))
            deadline = time.monotonic() + timeout
            while self.process.is_alive() and time.monotonic() < deadline:
                events.extend(self.events(timeout=0.05))
        events.extend(self.events())
        if self.process.is_alive():
            logger.warning("engine pid %s did not stop within %.1f s: terminating", self.process.pid, timeout)
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            logger.warning("engine pid %s ignored SIGTERM: killing", self.process.pid)
            self.process.kill()
        self.process.join(2.0)
        self.channel.close()
        return events
