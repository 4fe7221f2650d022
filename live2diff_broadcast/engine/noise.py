"""Deterministic noise: one draw per (seed, frame index, denoising step).

Because noise depends only on those three integers, a run is reproducible and the pipelined
stream draws exactly what sequential denoising draws. ``fixed`` mode ignores the frame index
(the same noise for every frame, as StreamDiffusion does).
"""

from __future__ import annotations

import torch

from .config import NoiseMode

_MASK64 = (1 << 63) - 1


def noise_seed(seed: int, frame: int, step: int) -> int:
    """Mix three integers into one generator seed (splitmix64-style, stable across runs)."""
    z = (seed * 0x9E3779B97F4A7C15 + frame * 0xBF58476D1CE4E5B9 + step * 0x94D049BB133111EB) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK64


class NoiseSource:
    """``noise(frame, step)`` -> (C, h, w) standard normal, same on every call with the same ints."""

    def __init__(
        self, seed: int, mode: NoiseMode, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
    ) -> None:
        if mode not in ("per_frame", "fixed"):
            raise ValueError(f"noise mode must be 'per_frame' or 'fixed', got {mode!r}")
        self.seed, self.mode, self.shape, self.device, self.dtype = seed, mode, shape, device, dtype
        self._generator = torch.Generator(device=device)

    def __call__(self, frame: int, step: int) -> torch.Tensor:
        frame_key = 0 if self.mode == "fixed" else frame
        self._generator.manual_seed(noise_seed(self.seed, frame_key, step))
        return torch.randn(self.shape, generator=self._generator, device=self.device, dtype=torch.float32).to(self.dtype)
