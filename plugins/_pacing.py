"""Pacing for generated and file sources: frame ``n`` is due at ``start + n / fps``."""

from __future__ import annotations

import time

from live2diff_broadcast.media.frames import now_ns


class Pacer:
    """Hands out frame slots at a fixed rate on the monotonic clock; never runs ahead.

    If the consumer falls behind by more than one frame, the schedule restarts from now rather
    than bursting to catch up (a live source never queues stale frames).
    """

    def __init__(self, fps: float) -> None:
        self.period_ns = round(1e9 / fps)
        self._next_ns: int | None = None
        self._last_pts = -1

    def wait(self, timeout: float) -> int | None:
        """Sleep until the next slot; its pts (strictly increasing), or None if not due within ``timeout`` s."""
        now = now_ns()
        if self._next_ns is None or now - self._next_ns > self.period_ns:
            self._next_ns = now
        delay_ns = self._next_ns - now
        if delay_ns > timeout * 1e9:
            time.sleep(max(timeout, 0.0))
            return None
        if delay_ns > 0:
            time.sleep(delay_ns / 1e9)
        self._next_ns += self.period_ns
        pts = max(now_ns(), self._last_pts + 1)
        self._last_pts = pts
        return pts
