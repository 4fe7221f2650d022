"""One sink on its own thread: whatever the sink does (fails, blocks, crawls), the sink loop never waits on it.

The output stage's frames reach the thread through a ``SlotMailbox`` (``slot_mailbox.py``: the
newest picture wins, the owed slots are bounded); the thread writes them through the sink's
``SinkKeeper`` (``sink_keeper.py``: reopen with backoff). Its own counts go to its telemetry row:
``written`` (frames the sink took, numbered 0, 1, 2 ... in ``Frame.seq``), ``missed`` (slots it got
no frame for: down, or too slow to keep up), and ``stalled`` while one write has not returned for
``stall_s`` (said once in the log, and once more when it returns).
"""

from __future__ import annotations

import logging
import threading
import time

from ..media.frames import Frame
from .sink_keeper import SinkKeeper
from .slot_mailbox import SlotMailbox
from .telemetry import Telemetry

logger = logging.getLogger(__name__)


class SinkWorker:
    def __init__(self, keeper: SinkKeeper, telemetry: Telemetry, max_owed: int, stall_s: float = 2.0) -> None:
        self.keeper, self.telemetry, self.stall_s = keeper, telemetry, stall_s
        self.mailbox = SlotMailbox(max_owed)
        self.written = 0
        self._missed_down = 0  # frames taken while the sink was down
        self._writing_since: float | None = None  # monotonic start of the write in progress
        self._stalled = False
        self._missed_seen = 0  # the mailbox's missed count last reported from offer
        self._thread = threading.Thread(target=self._run, name=f"sink {keeper.label}", daemon=True)

    @property
    def label(self) -> str:
        return self.keeper.label

    def start(self) -> None:
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        """Hand one slot's frame over (never blocks); says so once when the sink has been stuck for ``stall_s``."""
        self.mailbox.put(frame)
        if self.mailbox.missed != self._missed_seen:  # a stuck sink's row counts its losses while it is stuck
            self._missed_seen = self.mailbox.missed
            self.telemetry.sink_update(self.keeper.index, missed=self._missed_down + self._missed_seen)
        since = self._writing_since
        if since is not None and not self._stalled and time.monotonic() - since > self.stall_s:
            self._stalled = True
            logger.error("%s: a write has not returned for %.1f s; its frames are dropped while it is stuck, the "
                         "other sinks and the output go on", self.label, time.monotonic() - since)
            self.telemetry.sink_update(self.keeper.index, state="stalled")

    def stop(self, timeout: float) -> bool:
        """Write what is owed, close the sink; False when it did not finish within ``timeout`` s (stuck)."""
        self.mailbox.close()
        if self._thread.ident is None:  # never started
            self.keeper.close("shutdown")
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        keeper, mailbox = self.keeper, self.mailbox
        while True:
            frame = mailbox.take(timeout=0.5)
            if frame is None:
                if mailbox.closed:
                    break
                continue
            self._writing_since = time.monotonic()
            ok = keeper.write(Frame(frame.image, frame.pts_ns, self.written))
            took = time.monotonic() - self._writing_since
            self._writing_since = None
            if self._stalled:
                self._stalled = False
                logger.warning("%s: the stuck write returned after %.1f s", self.label, took)
                if keeper.sink is not None:
                    self.telemetry.sink_update(keeper.index, state="open")
            if ok:
                self.written += 1
            else:
                self._missed_down += 1
            self.telemetry.sink_update(keeper.index, written=self.written, missed=self._missed_down + mailbox.missed)
        keeper.close("shutdown")
