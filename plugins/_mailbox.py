"""A one-slot, latest-wins mailbox between a sink's ``write`` and its sender thread.

``put`` never blocks: a frame the sender has not taken yet is replaced by the newer one and
counted in ``dropped`` (a live stream shows the newest frame, never a queue of stale ones).
``take`` blocks the sender until a frame arrives, the mailbox closes, or the timeout passes.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0  # items replaced before the sender took them
        self.taken = 0

    def put(self, item: T) -> bool:
        """Leave ``item`` for the sender; False if it replaced one the sender never took."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
        return not replaced

    def take(self, timeout: float) -> T | None:
        """The newest item (emptying the slot), or None on timeout or once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self.taken += 1
            return None if self._closed else item

    def close(self) -> None:
        """Wake the sender; every later ``take`` returns None at once."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
