"""Every sink of the show, each isolated on its own thread: one failing, blocking or slow never stalls another
nor the output grid.

The output stage hands every slot's frame to ``write``, which gives it to each sink's thread
(``sink_worker.py``) without waiting and returns. Each sink has its own keeper (reopen with backoff,
``sink_keeper.py``), its own mailbox (newest picture wins, bounded: ``slot_mailbox.py``) and its own
row in telemetry (``Telemetry.sinks``: written, missed, state), so the others keep their frame
counts whatever one of them does.

Start-up: one sink (a ``[sink]`` table) must open, as it always had to: its error stops the start.
Of several (``[[sinks]]``), one that cannot be opened is logged, naming it and why, and retried
with backoff while the others run; only when none opens does the start stop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..media.backoff import Backoff
from ..media.frames import Frame
from ..plugin_api import PluginError, Sink
from .sink_keeper import SinkKeeper
from .sink_worker import SinkWorker
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

CATCH_UP_S = 1.0  # a sink late by up to this much still gets every slot (as the output clock's catch-up)


@dataclass(frozen=True)
class SinkSpec:
    label: str  # how logs and the status name it: "sink file", "sinks[1] ndi 'studio'"
    factory: Callable[[], Sink]  # a new, unopened sink (called again for every reopen)


class SinkSet:
    def __init__(
        self,
        specs: Sequence[SinkSpec],
        telemetry: Telemetry,
        backoff: Callable[[], Backoff],
        failures_before_reopen: int = 3,
        stall_s: float = 2.0,  # a write that has not returned this long marks its sink "stalled"
    ) -> None:
        if not specs:
            raise ValueError("a show needs at least one sink")
        self.specs, self.telemetry, self.stall_s = list(specs), telemetry, stall_s
        self.keepers = [SinkKeeper(spec.factory, telemetry, backoff(), failures_before_reopen, spec.label, i)
                        for i, spec in enumerate(self.specs)]
        self.workers: list[SinkWorker] = []
        self._created: list[Sink] = []

    def create(self) -> None:
        """Create every sink (settings checked now: a plugin error stops the start before anything opens)."""
        self._created = [spec.factory() for spec in self.specs]

    def open(self, height: int, width: int, fps: float) -> None:
        """Open every sink at the model's size and the output rate, then start their threads."""
        several = len(self.keepers) > 1
        opened = [keeper.open(sink, height, width, fps, retry=several) for keeper, sink in zip(
            self.keepers, self._created, strict=True)]
        if not any(opened):
            raise PluginError(f"none of the {len(opened)} sinks could be opened (each is named above, with why)")
        max_owed = max(1, math.ceil(CATCH_UP_S * fps))
        self.workers = [SinkWorker(keeper, self.telemetry, max_owed, self.stall_s) for keeper in self.keepers]
        for worker in self.workers:
            worker.start()

    def write(self, frame: Frame) -> bool:
        """Hand one slot's frame to every sink's thread; never waits on a sink (True: the slot is filled)."""
        for worker in self.workers:
            worker.offer(frame)
        return True

    def describe(self) -> str:
        return ", ".join(spec.label for spec in self.specs)

    def close(self, reason: str, timeout_s: float = 5.0) -> None:
        """Each sink writes what it still owes and closes; one stuck in a write is left behind after
        ``timeout_s`` (its thread is a daemon), said in the log."""
        if not self.workers:  # the start stopped before the sinks ran: close what was created
            for spec, sink in zip(self.specs, self._created, strict=False):
                try:
                    sink.close(reason)
                except Exception:
                    logger.exception("%s failed to close", spec.label)
            return
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            worker.mailbox.close()
        for worker in self.workers:
            if not worker.stop(max(0.0, deadline - time.monotonic())):
                logger.error("%s did not close within %.0f s (stuck in a write); left behind", worker.label, timeout_s)
