"""Per-stage wall time of the frame path (depth, encode, unet, decode), built in.

Off by default. When on, each stage is bracketed by a device synchronisation so the numbers
are real on a GPU; that costs a little throughput, so benchmarks report FPS from a separate
run with timing off.

``on_stage`` (timing on or off) is called with the stage's name after every stage that finished:
the engine process's measure of progress for its watchdog (``runtime/heartbeat.py``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


class StageTimer:
    def __init__(self, device: torch.device, enabled: bool = False) -> None:
        self.device, self.enabled = device, enabled
        self.total_s: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on_stage: Callable[[str], None] | None = None

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
        else:
            self._sync()
            start = time.perf_counter()
            try:
                yield
            finally:
                self._sync()
                self.total_s[name] += time.perf_counter() - start
                self.calls[name] += 1
        if self.on_stage is not None:
            self.on_stage(name)

    def mean_ms(self, per: int) -> dict[str, float]:
        """Total milliseconds per stage divided by ``per`` (e.g. frames)."""
        return {name: 1000 * total / max(per, 1) for name, total in self.total_s.items()}

    def reset(self) -> None:
        self.total_s.clear()
        self.calls.clear()
