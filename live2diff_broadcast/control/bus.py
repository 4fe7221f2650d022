"""ControlBus: the one place every control input posts actions and the supervisor takes them.

Thread-safe and bounded: at most ``capacity`` actions wait; when full the OLDEST is dropped
(its result says so), since for live controls the newest intent is the one that matters. Each
``post`` returns a ``Future[ActionResult]`` that the consumer resolves; callers that do not care
ignore it. Events (``publish``) go to every ``subscribe``d listener, on the publishing thread;
a failing listener is logged and never breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from .actions import Action, ActionResult, Event

logger = logging.getLogger(__name__)

Pending = tuple[Action, "Future[ActionResult]"]


class ControlBus:
    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"ControlBus capacity must be >= 1, got {capacity}")
        self._lock = threading.Lock()
        self._queue: deque[Pending] = deque()
        self._capacity = capacity
        self._listeners: list[Callable[[Event], None]] = []
        self._wakeup = threading.Event()
        self.dropped = 0

    # --- actions ---------------------------------------------------------------------------------

    def post(self, action: Action) -> Future[ActionResult]:
        future: Future[ActionResult] = Future()
        dropped: Pending | None = None
        with self._lock:
            if len(self._queue) >= self._capacity:
                dropped = self._queue.popleft()
                self.dropped += 1
            self._queue.append((action, future))
        self._wakeup.set()
        if dropped is not None:
            logger.warning("control queue full (%d): dropped the oldest action %r", self._capacity, dropped[0])
            dropped[1].set_result(ActionResult(False, "dropped: control queue full"))
        logger.debug("control: %r", action)
        return future

    def take(self) -> list[Pending]:
        """Every waiting action, oldest first (the consumer resolves each future)."""
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._wakeup.clear()
        return items

    def wait(self, timeout: float) -> bool:
        """Block until an action is posted or ``timeout`` passes; True if one is waiting."""
        return self._wakeup.wait(timeout)

    def cancel_all(self, reason: str) -> None:
        """Resolve every waiting action as refused (the consumer is shutting down)."""
        for _, future in self.take():
            if not future.done():
                future.set_result(ActionResult(False, reason))

    # --- events ----------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every published event; returns the unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("control event listener %r failed on %r", listener, event)
