"""Batched LCM math for stream-batch denoising: every batch row at its own step.

Coefficients come from diffusers' LCMScheduler (its alphas and boundary-condition scalings);
the update itself is written out so a batch of rows at different steps runs in one go.
``StreamSchedule.sample`` is the one step-by-step loop (noise, UNet, consistency output, re-noise)
every sequential caller runs: the warmup, the sequential stream and the window-recompute baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import LCMScheduler

from .guidance import guided

# The Live2Diff / AnimateDiff inference schedule.
LIVE2DIFF_SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": True,
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
}


def live2diff_scheduler() -> LCMScheduler:
    return LCMScheduler(**LIVE2DIFF_SCHEDULER_CONFIG)


class StreamSchedule:
    """Per-step coefficients (each shaped (n, 1, 1, 1)) for the steps in ``t_index_list``."""

    def __init__(
        self,
        scheduler: LCMScheduler,
        t_index_list: tuple[int, ...],
        num_schedule_steps: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        if scheduler.config.prediction_type != "epsilon":
            raise ValueError(f"expected an epsilon-prediction scheduler, got {scheduler.config.prediction_type!r}")
        scheduler.set_timesteps(num_schedule_steps)
        timesteps = scheduler.timesteps[list(t_index_list)].long()
        alphas = scheduler.alphas_cumprod[timesteps].double()
        c_skip, c_out = zip(*(scheduler.get_scalings_for_boundary_condition_discrete(int(t)) for t in timesteps), strict=True)

        def col(values: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float64).view(-1, 1, 1, 1).to(device=device, dtype=dtype)

        self.num_steps = len(t_index_list)
        self.timesteps = timesteps.to(device)  # (n,)
        self.sqrt_alpha = col(alphas.sqrt())
        self.sqrt_one_minus_alpha = col((1 - alphas).sqrt())
        self.c_skip = col(torch.tensor([float(c) for c in c_skip], dtype=torch.float64))  # not float32-rounded
        self.c_out = col(torch.tensor([float(c) for c in c_out], dtype=torch.float64))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, step: int | slice) -> torch.Tensor:
        """Noise clean latents to step ``step``'s level: sqrt(a) x0 + sqrt(1 - a) noise."""
        return self.sqrt_alpha[step] * x0 + self.sqrt_one_minus_alpha[step] * noise

    def denoise(self, x_t: torch.Tensor, eps: torch.Tensor, step: int | slice) -> torch.Tensor:
        """LCM consistency output for latents at ``step`` (rows along dim 0 when a slice)."""
        x0 = (x_t - self.sqrt_one_minus_alpha[step] * eps) / self.sqrt_alpha[step]
        return self.c_out[step] * x0 + self.c_skip[step] * x_t

    def sample(
        self,
        latents: torch.Tensor,
        noise: Callable[[int], torch.Tensor],
        eps: Callable[[int, torch.Tensor], torch.Tensor],
        guidance: float = 1.0,
    ) -> torch.Tensor:
        """LCM multistep sampling of clean ``latents`` through every step, one after another.

        1. noise the latents to step 0's level with ``noise(0)``;
        2. per step s: ``eps(s, x_t)`` (the UNet's noise prediction for x_t at step s), then the
           consistency output; before the next step it is re-noised with ``noise(s + 1)``.
        Returns the last step's output. ``latents``, ``noise(s)`` and ``eps(s, x)``: one shape,
        (..., 4, h, w) (one frame, or the warmup frames along dim 0). ``guidance``: residual self-guidance
        against the noise each step was noised with (``guidance.py``; 1: the plain prediction).
        """
        n = noise(0)
        x = self.add_noise(latents, n, 0)
        for s in range(self.num_steps):
            denoised = self.denoise(x, guided(eps(s, x), n, guidance), s)
            if s + 1 < self.num_steps:
                n = noise(s + 1)
                x = self.add_noise(denoised, n, s + 1)
        return denoised
