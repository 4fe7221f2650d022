"""The output's frame clock: the 1/fps grid every written frame sits on.

The sink gets a constant-frame-rate signal, like broadcast gear: slot k of the grid is due at
``start_ns + k / fps`` on the monotonic clock and is written exactly once, with that time as its
pts. So pts strictly increase by one slot per frame, whatever the engine does, and a recording
has a frame in every slot.

A tick that comes late (the sink loop was busy: a slow sink write, a profile reload) finds several
slots due; they are all written, with the same picture (a frame synchronizer repeats a frame
rather than leave a hole), up to ``max_catch_up`` slots. Beyond that the loop was frozen (the
whole process was stopped or starved for longer than a second): the clock jumps to now and counts
the slots it skipped, which then are gaps in a recording.
"""

from __future__ import annotations

import math


class OutputClock:
    def __init__(self, fps: float, start_ns: int, max_catch_up_s: float = 1.0) -> None:
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"output frame rate must be a positive number of frames per second, got {fps!r}")
        self.fps = fps
        self.period_ns = 1e9 / fps
        self.start_ns = start_ns
        self.max_catch_up = max(1, math.ceil(max_catch_up_s * fps))
        self.next_slot = 0  # the first slot not written yet
        self.skipped = 0  # slots jumped over after a freeze (gaps in the output)

    def pts(self, slot: int) -> int:
        """The time of ``slot`` on the grid (integer ns, monotonic clock)."""
        return self.start_ns + round(slot * self.period_ns)

    def due(self, now_ns: int) -> list[int]:
        """The pts of every slot due by ``now_ns`` and not written yet, oldest first (empty: none due)."""
        last_due = math.floor((now_ns - self.start_ns) / self.period_ns)
        if last_due < self.next_slot:
            return []
        first = self.next_slot
        if last_due - first + 1 > self.max_catch_up:
            first = last_due - self.max_catch_up + 1
            self.skipped += first - self.next_slot
        self.next_slot = last_due + 1
        return [self.pts(slot) for slot in range(first, last_due + 1)]

    def next_due_ns(self) -> int:
        """When the next slot is due."""
        return self.pts(self.next_slot)
