"""Depth prior: per-frame relative inverse depth behind one interface.

Every estimator returns (B, 1, H, W) in [0, 1], min-max normalised *per frame* (the same rule
in warmup and streaming; the reference normalised warmup frames jointly), near = 1.

Aspect ratio: the reference squashes every frame to 384x384, which distorts a 16:9 camera
frame. We letterbox instead: pad the frame to a square (edge pixels repeated, so the pad adds
no hard edge), resize to ``input_size`` x ``input_size`` (the square input DPT-Hybrid expects;
transformers' hybrid DPT accepts no other shape), predict, resize the prediction back to the
padded square and crop the original frame out of it. Geometry is never distorted; the
normalisation uses the cropped frame only.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import DPTForDepthEstimation


class DepthEstimator(Protocol):
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> (B, 1, H, W) per-frame normalised inverse depth."""
        ...


def normalise_per_frame(depth: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> min-max normalised to [0, 1] frame by frame (flat frames -> 0)."""
    flat = depth.flatten(1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    scale = (hi - lo).clamp_min(torch.finfo(depth.dtype).eps)
    return (depth - lo.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)


def letterbox_square(images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, C, H, W) -> (B, C, S, S) with S = max(H, W), edge-padded; returns the (top, left) offset."""
    _, _, h, w = images.shape
    size = max(h, w)
    top, left = (size - h) // 2, (size - w) // 2
    padded = F.pad(images, (left, size - w - left, top, size - h - top), mode="replicate")
    return padded, (top, left)


class DPTDepthEstimator:
    """MiDaS v3 DPT-Hybrid through transformers' DPTForDepthEstimation (Intel/dpt-hybrid-midas)."""

    def __init__(
        self,
        model: DPTForDepthEstimation,
        input_size: int = 384,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ) -> None:
        self.model = model.eval()
        self.input_size = input_size
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _, _, h, w = images.shape
        square, (top, left) = letterbox_square(images)  # (B, 3, S, S)
        size = square.shape[-1]
        x = F.interpolate(square, size=(self.input_size, self.input_size), mode="bicubic", align_corners=False)
        x = x.clamp(0, 1)
        mean, std = self.mean.to(x), self.std.to(x)
        param = next(self.model.parameters())
        depth = self.model(pixel_values=((x - mean) / std).to(param.dtype)).predicted_depth  # (B, s, s)
        depth = F.interpolate(depth[:, None].to(images.dtype), size=(size, size), mode="bicubic", align_corners=False)
        return normalise_per_frame(depth[:, :, top : top + h, left : left + w])  # (B, 1, H, W)
