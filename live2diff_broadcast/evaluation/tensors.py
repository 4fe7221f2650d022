"""numpy RGB uint8 frames <-> torch image batches (the metrics' common conversion)."""

from __future__ import annotations

import numpy as np
import torch


def frames_to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    """[(H, W, 3) uint8, ...] -> (N, 3, H, W) float32 in [0, 1]."""
    batch = torch.from_numpy(np.stack(frames))  # (N, H, W, 3)
    return batch.permute(0, 3, 1, 2).float().div_(255)
