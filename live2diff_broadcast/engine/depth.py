"""Depth prior: relative inverse depth (near = high) behind one interface, two preprocessings.

An estimator's ``raw(images, resize)`` returns the prediction at frame size *before*
normalisation, with the min / max each frame's normalisation spans (``RawDepth``); the stream
normalises it (``RawDepth.normalised``): one frame at a time, or the warmup frames jointly.
``__call__`` is the per-frame normalised map (evaluation, training).

Resize (``StreamConfig.depth_resize``):

* ``squash`` (default, the authors'): the frame is resized to the model's square input
  (``input_size`` x ``input_size``, 384 for DPT-Hybrid) with bilinear interpolation, whatever its
  aspect ratio, and the prediction resized back the same way; min / max are those of the
  square prediction. This is open-mmlab/Live2Diff's ``encode_depth``
  (live2diff/pipeline_stream_animation_depth.py)::

      images_input = F.interpolate(image_tensors, (384, 384), mode="bilinear", align_corners=False)
      depth_map = self.depth_detector(images_input)
      depth_map_norm = (depth_map - depth_map.min()) / (depth_map.max() - depth_map.min())
      depth_map_norm = depth_map_norm[:, None].repeat(1, 3, 1, 1) * 2 - 1
      depth_map_norm = F.interpolate(depth_map_norm, (h, w), mode="bilinear", align_corners=False)

  (normalising before or after a bilinear resize is the same affine map: it commutes).
* ``letterbox``: pad the frame to a square (edge pixels repeated, so the pad adds no hard
  edge), resize with bicubic interpolation, predict, resize back and crop the frame out; min /
  max over the cropped frame. A 16:9 camera frame is not distorted before DPT sees it, so
  depth of wide scenes keeps its geometry: pick it for non-square sources.

Normalisation (``StreamConfig.depth_normalise``):

* ``warmup_joint`` (default, the authors'): their warmup calls ``encode_depth`` on the 8 warmup
  frames at once, so ``depth_map.min()`` / ``.max()`` run over the whole warmup clip; streaming
  frames go one by one, so each is normalised on its own. A re-warm normalises its 8 frames
  jointly too.
* ``per_frame``: every frame on its own, warmup included: a sink's depth does not depend on the
  other sinks (the same rule in warmup and streaming).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import DPTForDepthEstimation

from .config import DepthResize

# (B, 3, s, s) normalised pixels -> (B, s, s) prediction (a DPT network, torch or onnxruntime)
DepthNetwork = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RawDepth:
    """A depth prediction before normalisation: ``map`` (B, 1, H, W) at frame size and, per frame,
    the ``lo`` / ``hi`` (B,) that its min-max normalisation spans."""

    map: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor

    def normalised(self, joint: bool = False) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1]: each frame by its own range, or (``joint``) all by their common one."""
        lo, hi = (self.lo.amin().expand_as(self.lo), self.hi.amax().expand_as(self.hi)) if joint else (self.lo, self.hi)
        scale = (hi - lo).clamp_min(torch.finfo(self.map.dtype).eps)  # a flat map -> 0, not NaN
        return (self.map - lo.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)

    @staticmethod
    def cat(parts: Sequence[RawDepth]) -> RawDepth:
        return RawDepth(*(torch.cat([getattr(p, name) for p in parts]) for name in ("map", "lo", "hi")))


class DepthEstimator(Protocol):
    def raw(self, images: torch.Tensor, resize: DepthResize = "squash") -> RawDepth:
        """images (B, 3, H, W) in [0, 1] -> the unnormalised prediction at (H, W) and its ranges."""
        ...

    def __call__(self, images: torch.Tensor, resize: DepthResize = "squash") -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> (B, 1, H, W) per-frame normalised inverse depth."""
        ...


def normalise_per_frame(depth: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> min-max normalised to [0, 1] frame by frame (flat frames -> 0)."""
    flat = depth.flatten(1)
    return RawDepth(depth, flat.amin(dim=1), flat.amax(dim=1)).normalised()


def letterbox_square(images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, C, H, W) -> (B, C, S, S) with S = max(H, W), edge-padded; returns the (top, left) offset."""
    _, _, h, w = images.shape
    size = max(h, w)
    top, left = (size - h) // 2, (size - w) // 2
    padded = F.pad(images, (left, size - w - left, top, size - h - top), mode="replicate")
    return padded, (top, left)


def estimate(
    images: torch.Tensor, network: DepthNetwork, input_size: int, resize: DepthResize,
    mean: torch.Tensor, std: torch.Tensor,
) -> RawDepth:
    """The pre/post-processing around a depth ``network`` (module docstring); images (B, 3, H, W) in [0, 1]."""
    _, _, h, w = images.shape
    s = (input_size, input_size)
    mean, std = mean.to(images), std.to(images)
    if resize == "squash":
        x = F.interpolate(images, size=s, mode="bilinear", align_corners=False)  # (B, 3, s, s), no overshoot
        depth = network((x - mean) / std).to(images.dtype)  # (B, s, s)
        flat = depth.flatten(1)
        full = F.interpolate(depth[:, None], size=(h, w), mode="bilinear", align_corners=False)  # (B, 1, H, W)
        return RawDepth(full, flat.amin(dim=1), flat.amax(dim=1))
    if resize == "letterbox":
        square, (top, left) = letterbox_square(images)  # (B, 3, S, S)
        size = square.shape[-1]
        x = F.interpolate(square, size=s, mode="bicubic", align_corners=False).clamp(0, 1)
        depth = network((x - mean) / std).to(images.dtype)  # (B, s, s)
        depth = F.interpolate(depth[:, None], size=(size, size), mode="bicubic", align_corners=False)
        crop = depth[:, :, top : top + h, left : left + w]  # (B, 1, H, W)
        flat = crop.flatten(1)
        return RawDepth(crop, flat.amin(dim=1), flat.amax(dim=1))
    raise ValueError(f"depth resize must be 'squash' or 'letterbox', got {resize!r}")


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

    def _network(self, pixels: torch.Tensor) -> torch.Tensor:
        param = next(self.model.parameters())
        return self.model(pixel_values=pixels.to(param.dtype)).predicted_depth  # (B, s, s)

    @torch.no_grad()
    def raw(self, images: torch.Tensor, resize: DepthResize = "squash") -> RawDepth:
        return estimate(images, self._network, self.input_size, resize, self.mean, self.std)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, resize: DepthResize = "squash") -> torch.Tensor:
        return self.raw(images, resize).normalised()
