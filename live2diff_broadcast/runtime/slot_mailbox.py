"""The hand-off from the output grid to one sink's thread: the newest picture wins, the slots owed are bounded.

The sink loop ``put``s one frame per slot of the output's 1/fps grid and never waits. The sink's
thread ``take``s them: the oldest slot it still owes, with the **newest** picture put so far. So

- a sink that keeps up gets every slot with its own picture (one frame in flight at a time);
- a sink that was briefly late (its thread not scheduled for a few slots, a late tick's burst of
  slots) catches up: every slot it missed is still written, with the newest picture (a frame
  synchronizer repeats a frame rather than leave a hole, as the output clock does);
- a sink that is slow or stuck never builds up delay in what it shows (the picture is always the
  newest) nor memory (one picture, at most ``max_owed`` slot times): past ``max_owed`` the oldest
  slots are given up and counted in ``missed``, holes in that sink's output only.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from ..media.frames import Frame


class SlotMailbox:
    def __init__(self, max_owed: int) -> None:
        if max_owed < 1:
            raise ValueError(f"max_owed must be at least 1 slot, got {max_owed}")
        self.max_owed = max_owed
        self._cond = threading.Condition()
        self._image: np.ndarray | None = None  # the newest picture put
        self._owed: deque[int] = deque()  # pts of the slots not taken yet, oldest first
        self._closed = False
        self.missed = 0  # slots given up because more than max_owed were waiting

    def put(self, frame: Frame) -> None:
        """Owe ``frame``'s slot and make its picture the newest; never blocks."""
        with self._cond:
            if self._closed:
                return
            self._image = frame.image
            self._owed.append(frame.pts_ns)
            if len(self._owed) > self.max_owed:
                self._owed.popleft()
                self.missed += 1
            self._cond.notify()

    def take(self, timeout: float) -> Frame | None:
        """The oldest owed slot with the newest picture (``seq`` 0: the taker numbers what it writes); None when
        nothing came within ``timeout`` s, or once closed and emptied."""
        with self._cond:
            if not self._owed and not self._closed:
                self._cond.wait(timeout)
            if not self._owed:
                return None
            assert self._image is not None
            return Frame(self._image, self._owed.popleft(), 0)

    def close(self) -> None:
        """No more puts; ``take`` still hands out what is owed (the end of a recording), then None at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def owed(self) -> int:
        with self._cond:
            return len(self._owed)
