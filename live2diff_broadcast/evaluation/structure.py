"""Structure consistency (paper Sec. 4.1): "the mean squared difference between the depth maps
estimated [MiDaS] for the input and output frames".

The depth model is the engine's own (``engine/depth.py``: DPT-Hybrid, squashed to its square
input as the authors' depth prior does, each map min-max normalised per frame to [0, 1], near = 1),
so the metric sees depth as the streaming depth prior does. The paper does not state the maps' scale; ours are normalised to [0, 1], so the
absolute numbers are not comparable with its Table 1, only between runs of this harness.
"""

from __future__ import annotations

import numpy as np
import torch

from ..engine.depth import DepthEstimator
from .tensors import frames_to_tensor


class DepthStructureMetric:
    """Per-frame MSE between the depth maps of input and output frames."""

    def __init__(self, depth: DepthEstimator, device: torch.device | str = "cpu", batch: int = 8) -> None:
        self.depth, self.device, self.batch = depth, torch.device(device), batch

    @torch.no_grad()
    def depth_maps(self, frames: list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 frames -> (N, 1, H, W) normalised depth, float32 on the CPU."""
        maps = []
        for i in range(0, len(frames), self.batch):
            images = frames_to_tensor(frames[i : i + self.batch]).to(self.device)
            maps.append(self.depth(images).float().cpu())
        return torch.cat(maps)

    def per_frame(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> np.ndarray:
        """(N,) MSE of depth(input_i) vs depth(output_i)."""
        if len(inputs) != len(outputs):
            raise ValueError(f"expected as many output frames as input frames, got {len(outputs)} vs {len(inputs)}")
        d_in, d_out = self.depth_maps(inputs), self.depth_maps(outputs)
        return ((d_in - d_out) ** 2).flatten(1).mean(dim=1).double().numpy()
