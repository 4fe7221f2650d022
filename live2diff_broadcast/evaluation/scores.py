"""The three metrics of paper Sec. 4.1 for one (input clip, output clip) pair, and their summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .structure import DepthStructureMetric
from .temporal_clip import ClipTemporalMetric
from .warp_error import WarpErrorMetric


@dataclass
class ClipScores:
    depth_mse: np.ndarray  # (N,) per frame
    clip_similarity: np.ndarray  # (N-1,) per adjacent pair, cosine in [-1, 1]
    warp_error: np.ndarray  # (N-1,) per adjacent pair

    def summary(self) -> dict[str, float]:
        return {
            "depth_mse": float(self.depth_mse.mean()),
            "clip_score": float(self.clip_similarity.mean()) if self.clip_similarity.size else float("nan"),
            "warp_error": float(self.warp_error.mean()) if self.warp_error.size else float("nan"),
        }


class MetricSuite:
    """Holds the metric models; scores any clip pair."""

    def __init__(self, structure: DepthStructureMetric, clip: ClipTemporalMetric, warp: WarpErrorMetric) -> None:
        self.structure, self.clip, self.warp = structure, clip, warp

    def score(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> ClipScores:
        return ClipScores(
            depth_mse=self.structure.per_frame(inputs, outputs),
            clip_similarity=self.clip.per_pair(outputs),
            warp_error=self.warp.per_pair(inputs, outputs),
        )
