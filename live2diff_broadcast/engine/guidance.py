"""Residual self-guidance: a guidance scale for an engine that has no unconditional branch.

Classifier-free guidance needs ``eps_uncond``: a second UNet pass per row (and, in this engine, a
second KV cache per step). StreamDiffusion's residual CFG with a "self" negative replaces it with
the noise the latent was made from. The LCM stream re-noises every step with fresh deterministic
noise, so ``x_t = sqrt(a) x0 + sqrt(1 - a) n`` holds exactly, and ``n`` is what a model that
changes nothing would predict. The guided prediction is

    eps_g = n + g (eps - n)                                   # (rows, 4, h, w)

- ``g == 1``: ``eps`` unchanged, with no arithmetic (bit for bit the unguided engine);
- ``g > 1``: the prediction's departure from the input is amplified: a stronger style;
- ``0 <= g < 1``: less of it; ``g == 0`` denoises back to about the input latent.

It costs no UNet call, and ``n`` is the same deterministic draw per (frame, step) in the pipelined
and the sequential path, so the two stay equal at any ``g``. No negative prompt is involved.
"""

from __future__ import annotations

import torch


def guided(eps: torch.Tensor, noise: torch.Tensor, scale: float) -> torch.Tensor:
    """eps, noise (..., 4, h, w) -> the guided prediction, same shape (``eps`` itself when scale == 1)."""
    if scale == 1.0:
        return eps
    return noise + scale * (eps - noise)
