"""Switching parts of the method off, reversibly, for the paper's ablations and stage-1 training.

* ``depth_prior_off``: the depth adapter's residual becomes zero (a model without the depth prior,
  as in stage 1 of training and the ablation's "no depth" rows);
* ``temporal_modules_off``: every motion module passes its input through unchanged, so each frame
  is denoised on its own by the same spatial UNet (a StreamDiffusion-style frame-by-frame baseline;
  the modules still run, unused, so the streaming call gets the K/V it expects from each layer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .unet import Live2DiffUNet, motion_transformers


class NoDepthPrior(nn.Module):
    """Stands in for the DepthAdapter: a zero residual of the right shape, no parameters."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, depth_latent: torch.Tensor) -> torch.Tensor:
        n, _, h, w = depth_latent.shape
        return depth_latent.new_zeros(n, self.out_channels, h, w)


@contextmanager
def depth_prior_off(unet: Live2DiffUNet) -> Iterator[None]:
    adapter = unet.depth_adapter
    unet.depth_adapter = NoDepthPrior(adapter.conv_out.out_channels)  # type: ignore[assignment]
    try:
        yield
    finally:
        unet.depth_adapter = adapter


def _bypassed(module: nn.Module) -> Callable[..., torch.Tensor]:
    """``module``'s forward that still runs (its temporal attention hands its K/V to the stream's
    AttentionCall, which expects every layer's; the cache they go to is never read) but returns
    its input unchanged, so the module adds nothing to the frame."""
    forward = type(module).forward

    def passthrough(hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        forward(module, hidden_states, *args, **kwargs)
        return hidden_states

    return passthrough


@contextmanager
def temporal_modules_off(unet: Live2DiffUNet) -> Iterator[None]:
    transformers = list(motion_transformers(unet.unet))
    for module in transformers:
        module.forward = _bypassed(module)  # instance attribute: nn.Module.__call__ finds it first
    try:
        yield
    finally:
        for module in transformers:
            del module.forward
