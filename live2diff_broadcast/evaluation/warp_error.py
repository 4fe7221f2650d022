"""Warp error (paper Sec. 4.1, after Lai et al. [21]): "we compute the optical flow between the
frames and then warp the predecessor frame accordingly, to compute a weighted MSE between the
warping result and the successor".

For each adjacent pair (t-1, t):
  1. backward flow F_b = flow(frame_t -> frame_{t-1}) and forward flow F_f = flow(frame_{t-1} -> frame_t),
     computed on the INPUT clip by default (as Lai et al.: the stylised output's own motion is what
     is being judged) or on the output clip;
  2. the output's predecessor is warped into frame t: W(x) = O_{t-1}(x + F_b(x)) (bilinear);
  3. occlusion weights from forward-backward consistency (Lai et al., after Sundaram et al.):
     M(x) = 1 where |F_b + F_f(x + F_b)|^2 < 0.01 (|F_b|^2 + |F_f(x + F_b)|^2) + 0.5, else 0;
  4. error = sum_x M(x) * mean_rgb (O_t(x) - W(x))^2 / sum_x M(x), pixels in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .flow import FlowEstimator

FlowSource = Literal["input", "output"]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image (H, W, C) sampled at x + flow(x) (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) float32, 1 = visible in both frames (forward-backward consistent), 0 = occluded."""
    forward_at = warp(forward, backward)  # F_f sampled where each pixel of frame t came from
    total = backward + forward_at
    lhs = (total**2).sum(-1)
    rhs = 0.01 * ((backward**2).sum(-1) + (forward_at**2).sum(-1)) + 0.5
    return (lhs < rhs).astype(np.float32)


class WarpErrorMetric:
    def __init__(self, flow: FlowEstimator, flow_source: FlowSource = "input") -> None:
        if flow_source not in ("input", "output"):
            raise ValueError(f"flow_source must be 'input' or 'output', got {flow_source!r}")
        self.flow, self.flow_source = flow, flow_source

    @property
    def label(self) -> str:
        return f"{self.flow.name}, flow on {self.flow_source}"

    def pair(self, prev_out: np.ndarray, next_out: np.ndarray, prev_ref: np.ndarray, next_ref: np.ndarray) -> float:
        backward = self.flow(next_ref, prev_ref)
        forward = self.flow(prev_ref, next_ref)
        mask = occlusion_mask(backward, forward)
        warped = warp(prev_out.astype(np.float32) / 255, backward)
        err = ((next_out.astype(np.float32) / 255 - warped) ** 2).mean(-1)
        return float((mask * err).sum() / max(float(mask.sum()), 1.0))

    def per_pair(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> np.ndarray:
        """(N-1,) warp error of output frame t-1 warped onto output frame t."""
        if len(inputs) != len(outputs):
            raise ValueError(f"expected as many output frames as input frames, got {len(outputs)} vs {len(inputs)}")
        ref = inputs if self.flow_source == "input" else outputs
        return np.array([self.pair(outputs[t - 1], outputs[t], ref[t - 1], ref[t]) for t in range(1, len(outputs))])
