"""Keeps one sink alive: a sink that keeps failing is closed and opened afresh, with backoff.

Frames written while the sink is down are dropped (there is nothing to show them on); every
failure is logged with the sink's label (its field path, plugin and name: "sinks[1] file 'rec'"),
and every reopen counted in telemetry, in the show's total and in the sink's own row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..media.backoff import Backoff
from ..media.frames import Frame
from ..plugin_api import PluginError, Sink
from .telemetry import Telemetry

logger = logging.getLogger(__name__)


class SinkKeeper:
    def __init__(
        self,
        factory: Callable[[], Sink],
        telemetry: Telemetry,
        backoff: Backoff,
        failures_before_reopen: int = 3,
        label: str = "sink",
        index: int = 0,
    ) -> None:
        self.factory, self.telemetry, self.backoff = factory, telemetry, backoff
        self.failures_before_reopen = failures_before_reopen
        self.label, self.index = label, index  # how logs name it; its row in telemetry's ``sinks``
        self.sink: Sink | None = None
        self.size = (0, 0)  # (height, width)
        self.fps = 30.0
        self._failures = 0  # consecutive failed writes
        self._retry_at = 0.0  # monotonic time of the next reopen attempt while the sink is down
        self._dropped_before = 0  # frames dropped by sinks closed before this one
        self._reopens = 0
        self._traceback_shown = False
        self._last_why = ""  # the last reason it went down, said in full once
        self.telemetry.sink_update(index, label=label, state="opening", written=0, missed=0, dropped=0, reopens=0,
                                   error=None)

    def open(self, sink: Sink, height: int, width: int, fps: float, retry: bool = False) -> bool:
        """Open the first sink. A failure propagates (a sink that never opens is a start-up error), unless
        ``retry``: then it is logged, the sink is down and retried with backoff (False)."""
        self.size, self.fps = (height, width), fps
        try:
            sink.open(width, height, fps)
        except Exception as exc:
            if not retry:
                raise
            self._close_quietly(sink, "could not be opened")
            self._down(f"cannot be opened: {_reason(exc)}", exc_info=not isinstance(exc, PluginError))
            return False
        self._opened(sink)
        return True

    def write(self, frame: Frame) -> bool:
        """True if the sink took the frame."""
        if self.sink is None and not self._reopen():
            return False
        assert self.sink is not None
        try:
            self.sink.write(frame)
        except Exception as exc:
            self._failures += 1
            if self._failures == 1:  # one line per run of failures; the traceback once per show, not per frame
                logger.error("%s failed to write a frame (%s); frame dropped", self.label, _reason(exc),
                             exc_info=not self._traceback_shown)
                self._traceback_shown = True
            if self._failures >= self.failures_before_reopen:
                self.close(f"{self._failures} failed writes in a row")
                self._down(f"{self._failures} failed writes in a row, the last: {_reason(exc)}")
            return False
        self._failures = 0
        self.backoff.reset()
        if self.sink.dropped:
            self.telemetry.sink_update(self.index, dropped=self._dropped_before + self.sink.dropped)
        return True

    def close(self, reason: str) -> None:
        if self.sink is None:
            return
        sink, self.sink = self.sink, None
        self._dropped_before += sink.dropped  # the count survives a reopen
        self._close_quietly(sink, reason)
        self.telemetry.sink_update(self.index, state="closed")

    # --- down and back ---------------------------------------------------------------------------

    def _opened(self, sink: Sink) -> None:
        self.sink, self._failures, self._last_why = sink, 0, ""
        self.telemetry.sink_update(self.index, state="open", detail=sink.detail or sink.name)  # error: kept, the last one

    def _down(self, why: str, exc_info: bool = False) -> None:
        """The sink is down: the one line that says which and why, and when it is tried again (the same reason
        again is said in a few words)."""
        self._failures = 0
        delay = self.backoff.next()
        self._retry_at = time.monotonic() + delay
        if why == self._last_why:
            logger.error("%s still down (the same error); retrying in %.1f s", self.label, delay)
        else:
            logger.error("%s %s; retrying in %.1f s (the other sinks and the output go on)", self.label, why, delay,
                         exc_info=exc_info)
        self._last_why = why
        self.telemetry.sink_update(self.index, state="retrying", error=why)

    def _reopen(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        sink = None
        try:
            sink = self.factory()
            sink.open(self.size[1], self.size[0], self.fps)
        except Exception as exc:
            if sink is not None:
                self._close_quietly(sink, "could not be reopened")
            self._down(f"cannot be opened: {_reason(exc)}")
            return False
        self._reopens += 1
        self.telemetry.add("sink_reopens")
        self.telemetry.sink_update(self.index, reopens=self._reopens)
        self._opened(sink)
        logger.warning("%s reopened (%s)", self.label, sink.detail or sink.name)
        return True

    def _close_quietly(self, sink: Sink, reason: str) -> None:
        try:
            sink.close(reason)
        except Exception:
            logger.exception("%s failed to close", self.label)


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
