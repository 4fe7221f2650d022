"""Keeps the show's sink alive: a sink that keeps failing is closed and opened afresh, with backoff.

Frames written while the sink is down are dropped (there is nothing to show them on); every
failure is logged with the sink's name, and every reopen counted in telemetry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..media.backoff import Backoff
from ..media.frames import Frame
from ..plugin_api import Sink
from .telemetry import Telemetry

logger = logging.getLogger(__name__)


class SinkKeeper:
    def __init__(
        self,
        factory: Callable[[], Sink],
        telemetry: Telemetry,
        backoff: Backoff,
        failures_before_reopen: int = 3,
    ) -> None:
        self.factory, self.telemetry, self.backoff = factory, telemetry, backoff
        self.failures_before_reopen = failures_before_reopen
        self.sink: Sink | None = None
        self.size = (0, 0)  # (height, width)
        self.fps = 30.0
        self._failures = 0  # consecutive failed writes
        self._retry_at = 0.0  # monotonic time of the next reopen attempt while the sink is down
        self._dropped_before = 0  # frames dropped by sinks closed before this one

    def open(self, sink: Sink, height: int, width: int, fps: float) -> None:
        """Open the first sink (errors propagate: a sink that never opens is a start-up error)."""
        sink.open(width, height, fps)
        self.sink, self.size, self.fps = sink, (height, width), fps
        self.telemetry.set(sink=sink.detail or sink.name)

    def write(self, frame: Frame) -> bool:
        """True if the sink took the frame."""
        if self.sink is None and not self._reopen():
            return False
        assert self.sink is not None
        try:
            self.sink.write(frame)
        except Exception:
            self._failures += 1
            logger.exception("sink %s failed to write frame %d; frame dropped", type(self.sink).__name__, frame.seq)
            if self._failures >= self.failures_before_reopen:
                self._drop(f"{self._failures} failed writes in a row")
            return False
        self._failures = 0
        self.backoff.reset()
        if self.sink.dropped:
            self.telemetry.set(sink_dropped=self._dropped_before + self.sink.dropped)
        return True

    def close(self, reason: str) -> None:
        if self.sink is None:
            return
        self._dropped_before += self.sink.dropped  # the count survives a reopen
        try:
            self.sink.close(reason)
        except Exception:
            logger.exception("sink %s failed to close", type(self.sink).__name__)
        self.sink = None

    def _drop(self, reason: str) -> None:
        name = type(self.sink).__name__
        self.close(reason)
        self._failures = 0
        delay = self.backoff.next()
        self._retry_at = time.monotonic() + delay
        logger.error("sink %s dropped (%s); reopening in %.1f s", name, reason, delay)

    def _reopen(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            sink = self.factory()
            sink.open(self.size[1], self.size[0], self.fps)
        except Exception as exc:
            delay = self.backoff.next()
            self._retry_at = time.monotonic() + delay
            logger.error("sink could not be reopened (%s: %s); next try in %.1f s", type(exc).__name__, exc, delay)
            return False
        self.sink = sink
        self.telemetry.add("sink_reopens")
        self.telemetry.set(sink=sink.detail or sink.name)
        logger.warning("sink %s reopened", type(sink).__name__)
        return True
