"""Keeps the engine process alive: start, watch its events, restart it with backoff when it dies.

``watch()`` runs once per sink tick. It starts a new engine when a restart is due, takes every
event the engine sent (state changes, frame reports, the backend actually running, errors) into
telemetry, hands style events to ``on_style_event``, and notices a dead process: passthrough
covers the gap while the next start waits out an exponential backoff (reset once live again).

A hung engine (no heartbeat for ``heartbeat.HEARTBEAT_TIMEOUT_S``, e.g. SIGSTOPped, or a live
engine whose loop stopped turning) is killed and then handled like a dead one (``heartbeat.py``).

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
from ..media.frames import now_ns
from .engine_process import EngineProcess
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
        self.state = "starting"  # EngineState value, or "restarting" / "dead" while there is no process
        self.output_at = 0  # now_ns() of the engine's last output (shown or not), or of going live
        self._restart_at = 0.0  # monotonic time the next start is due (while engine is None)
        self._retiring: threading.Thread | None = None  # an engine being stopped for a restart

    @property
    def pid(self) -> int | None:
        return None if self.engine is None else self.engine.pid

    @property
    def live(self) -> bool:
        return self.engine is not None and self.state == EngineState.LIVE.value

    def start(self) -> None:
        """Spawn an engine for ``make_spec()`` (it loads the models while the sink shows passthrough)."""
        self.engine = EngineProcess(self.make_spec(), self.ctx)
        self.engine.start()
        self.heartbeat.started()
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
            code = self.engine.process.exitcode
            delay = self.backoff.next()
            logger.error("engine process pid %s died (exit code %s); passthrough meanwhile, restarting in %.1f s",
                         self.engine.pid, code, delay)
            self.engine.stop("died")
            self.engine = None
            self.state = "dead"
            self._restart_at = time.monotonic() + delay
        self.telemetry.set(engine_state=self.state)

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
                self.heartbeat.loop_at_ns = now_ns()
                self.backoff.reset()
                self.output_at = now_ns()
        elif isinstance(event, FrameEvent):
            self.output_at = now_ns()
            self.telemetry.engine_frame(event.latency_ns)
        elif isinstance(event, StyleEvent):
            self.on_style_event(event)
        elif isinstance(event, BackendEvent):
            self.telemetry.set(backend=event.active, backend_fallback=event.fallback_reason)
        elif isinstance(event, LoraEvent):
            self.telemetry.set(loras=dict(event.weights))
        elif isinstance(event, ErrorEvent):
            logger.error("engine reported an error (traceback above in its log)")
