"""Keeps the engine process alive: start, watch its events, restart it with backoff when it dies.

``watch()`` runs once per sink tick. It starts a new engine when a restart is due, takes every
event the engine sent (state changes, frame reports, the backend actually running, errors) into
telemetry, hands style events to ``on_style_event``, and notices a dead process: passthrough
covers the gap while the next start waits out an exponential backoff (reset once live again).

A hung engine (silent, e.g. SIGSTOPped, or busy without progress, by the limits of the profile's
``[watchdog]``) is killed and then handled like a dead one (``heartbeat.py``). Every start counts a
``generation``, so the output stage never holds a frame of an engine that is gone.

An engine that reports a fatal error (its models cannot be loaded: missing or unreadable files) is
not restarted when it is the first one: ``fatal`` holds the message and the show stops (``run``
exits 2). After a later restart (a profile reload) the same error is retried with backoff, the show
going on in passthrough: a live show is never stopped by an edit.

A deliberate restart (``restart(reason)``: a profile change) stops the old process in a
background thread, so the sink loop never blocks on it; the new one starts once it is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext

from ..media.backoff import Backoff
from .engine_process import EXIT_FATAL, EngineProcess
from .heartbeat import HeartbeatMonitor
from .messages import (
    BackendEvent,
    EngineSpec,
    EngineState,
    ErrorEvent,
    Flush,
    FrameEvent,
    Heartbeat,
    LoraEvent,
    MoveLoraFader,
    Reset,
    RewarmSinks,
    SetBlend,
    SetPrompt,
    SetStyle,
    StateEvent,
    Stop,
    StyleEvent,
)
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

Message = SetStyle | SetBlend | MoveLoraFader | SetPrompt | RewarmSinks | Reset | Flush | Stop


class EngineKeeper:
    def __init__(
        self,
        make_spec: Callable[[], EngineSpec],
        ctx: BaseContext,
        telemetry: Telemetry,
        backoff: Backoff,
        on_style_event: Callable[[StyleEvent], None],
        stop_timeout_s: float = 5.0,
        heartbeat: HeartbeatMonitor | None = None,
    ) -> None:
        self.make_spec, self.ctx, self.telemetry, self.backoff = make_spec, ctx, telemetry, backoff
        self.on_style_event = on_style_event
        self.stop_timeout_s = stop_timeout_s
        self.heartbeat = heartbeat or HeartbeatMonitor()
        self.engine: EngineProcess | None = None
        self.state = "starting"  # EngineState value, or "restarting" / "dead" / "failed" while there is no process
        self.generation = 0  # engines started so far: frames of an older generation come from an engine that is gone
        self.fatal: str | None = None  # the first engine could not load its models: the show stops
        self._error: str | None = None  # the fatal message of the engine that just exited
        self._restart_at = 0.0  # monotonic time the next start is due (while engine is None)
        self._retiring: threading.Thread | None = None  # an engine being stopped for a restart

    @property
    def pid(self) -> int | None:
        return None if self.engine is None else self.engine.pid

    @property
    def live(self) -> bool:
        return self.engine is not None and self.state == EngineState.LIVE.value

    @property
    def working(self) -> bool:
        """An engine process is up and past loading: its frames, held, stand for what it is making."""
        return self.engine is not None and self.state in (EngineState.LIVE.value, EngineState.WARMING_UP.value)

    @property
    def progress_at(self) -> int:
        """now_ns() of the engine's last progress (a frame out, a finished stage, a re-warm or load step)."""
        return self.heartbeat.progress_at_ns

    def start(self) -> None:
        """Spawn an engine for ``make_spec()`` (it loads the models while the sink shows passthrough)."""
        self.engine = EngineProcess(self.make_spec(), self.ctx)
        self.engine.start()
        self.heartbeat.started()
        self.generation += 1
        self.state = "loading"

    def send(self, message: Message) -> bool:
        """False when no engine runs (it is restarting): the new one starts from the current spec."""
        return self.engine is not None and self.engine.send(message)

    def restart(self, reason: str) -> None:
        """Stop the engine in the background (passthrough meanwhile); ``watch`` starts the new one."""
        engine, self.engine = self.engine, None
        self.state = "restarting"
        self._restart_at = time.monotonic()
        if engine is not None:
            self._retiring = threading.Thread(target=engine.stop, args=(reason, self.stop_timeout_s),
                                              name="engine-stop", daemon=True)
            self._retiring.start()

    def watch(self) -> None:
        """One tick: start when due, take the engine's events, notice a death."""
        if self.engine is None:
            if self._retiring is not None and self._retiring.is_alive():
                return  # the old engine is still stopping (a profile change restarts it)
            if time.monotonic() >= self._restart_at:
                logger.warning("restarting the engine process")
                self.telemetry.add("engine_restarts")
                self.start()
            return
        for event in self.engine.events():
            self._on_event(event)
        hung = self.heartbeat.hung(self.state) if self.engine.is_alive() else None
        if hung is not None:
            logger.error("engine process pid %s is hung (%s): killing it", self.engine.pid, hung)
            self.telemetry.add("engine_hangs")
            self.engine.process.kill()  # a stopped process acts on nothing gentler
            self.engine.process.join(2.0)
        if not self.engine.is_alive():
            self._on_death()
        self.telemetry.set(engine_state=self.state)

    def _on_death(self) -> None:
        assert self.engine is not None
        for event in self.engine.events():  # its last words (a fatal error comes right before the exit)
            self._on_event(event)
        code = self.engine.process.exitcode
        self.engine.stop("died")
        self.engine = None
        if code == EXIT_FATAL and self.generation == 1:
            self.state, self.fatal = "failed", self._error or "the engine could not load its models"
            logger.error("engine process could not load its models; stopping the show: %s", self.fatal)
            return
        delay = self.backoff.next()
        logger.error("engine process died (exit code %s); passthrough meanwhile, restarting in %.1f s", code, delay)
        self.state = "dead"
        self._restart_at = time.monotonic() + delay

    def stop(self, reason: str) -> None:
        """Shutdown: wait for a retiring engine, then stop the running one (message, SIGTERM, SIGKILL)."""
        if self._retiring is not None:
            self._retiring.join(timeout=self.stop_timeout_s + 5)
        if self.engine is not None:
            self.engine.stop(reason, self.stop_timeout_s)
            self.engine = None

    def _on_event(self, event: object) -> None:
        self.heartbeat.alive()  # any message is a sign of life
        if isinstance(event, Heartbeat):
            self.heartbeat.beat(event)
        elif isinstance(event, StateEvent):
            logger.info("engine: %s", event.state.value)
            self.state = event.state.value
            if event.state is EngineState.LIVE:
                self.heartbeat.progressed()
                self.backoff.reset()
        elif isinstance(event, FrameEvent):
            self.heartbeat.progressed()
            self.telemetry.engine_frame(event.latency_ns)
        elif isinstance(event, StyleEvent):
            self.on_style_event(event)
        elif isinstance(event, BackendEvent):
            self.telemetry.set(backend=event.active, backend_fallback=event.fallback_reason)
        elif isinstance(event, LoraEvent):
            self.telemetry.set(loras=dict(event.weights))
        elif isinstance(event, ErrorEvent):
            if event.fatal:
                self._error = event.message
            else:
                logger.error("engine reported an error (traceback above in its log)")
