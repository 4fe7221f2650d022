"""Frame: the unit every source, the engine and every sink pass along."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def now_ns() -> int:
    """Monotonic clock in integer nanoseconds: the only clock frames are stamped with."""
    return time.monotonic_ns()


@dataclass(frozen=True)
class Frame:
    """RGB pixels plus timing stamped once at ingest and carried unchanged to the sink.

    image: (H, W, 3) uint8 RGB, C-contiguous.
    pts_ns: monotonic capture time in integer nanoseconds (``now_ns()`` at ingest).
    seq: the source's frame counter, starting at 0.
    """

    image: np.ndarray
    pts_ns: int
    seq: int

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Frame.image must be (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
