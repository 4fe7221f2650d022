"""Making the Live2Diff UNet trainable for one stage (paper Sec. 3.5).

* Temporal attention: the masked, non-cached processor (``WindowAttnProcessor``: PE added, then
  attention under the warmup+causal mask of one window), so frame t's prediction never depends on
  frames after t, except among the warmup frames, which see each other;
* stage 1: only the temporal (motion) modules train; the depth prior is off;
* stage 2: the depth prior is added (a fresh DepthAdapter whose last conv is zero-initialised, so
  training starts exactly from the stage-1 model) and trains jointly with the motion modules.
  The spatial SD1.5 UNet stays frozen in both stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..engine.ablation import NoDepthPrior
from ..engine.attention import temporal_attentions
from ..engine.config import CausalWindow
from ..engine.recompute import WindowAttnProcessor
from ..engine.unet import DepthAdapter, Live2DiffUNet, motion_transformers


@dataclass
class TrainableModel:
    unet: Live2DiffUNet  # the module handed to accelerate (its forward is the training forward)
    depth_adapter: DepthAdapter  # the real adapter (in stage 1 held aside: exported untrained)
    parameters: list[nn.Parameter]  # what the optimizer updates


def install_training_attention(unet: Live2DiffUNet, causal: CausalWindow) -> None:
    for attn, pos in temporal_attentions(unet.unet):
        attn.set_processor(WindowAttnProcessor(pos, causal))


def fresh_depth_adapter(old: DepthAdapter, seed: int) -> DepthAdapter:
    """A newly initialised adapter of the same shape, last layer zero (the paper's ControlNet-style start)."""
    channels = (old.conv_in.out_channels, *(int(b.out_channels) for b in old.blocks if isinstance(b, nn.Conv2d)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = DepthAdapter(old.conv_in.in_channels, old.conv_out.out_channels, channels)
    p = next(old.parameters())
    return new.to(device=p.device, dtype=p.dtype)


def prepare_stage(unet: Live2DiffUNet, stage: int, causal: CausalWindow, seed: int = 0, new_depth: bool = True) -> TrainableModel:
    """Freeze, unfreeze and rewire ``unet`` in place for ``stage``."""
    install_training_attention(unet, causal)
    unet.requires_grad_(False)
    motion = [p for t in motion_transformers(unet.unet) for p in t.parameters()]
    for p in motion:
        p.requires_grad_(True)
    adapter = unet.depth_adapter
    if not isinstance(adapter, DepthAdapter):
        raise TypeError(f"expected the UNet's DepthAdapter, got {type(adapter).__name__}")
    if stage == 1:
        unet.depth_adapter = NoDepthPrior(adapter.conv_out.out_channels)  # type: ignore[assignment]
        return TrainableModel(unet, adapter, motion)
    if new_depth:
        adapter = fresh_depth_adapter(adapter, seed)
        unet.depth_adapter = adapter
    adapter.requires_grad_(True)
    return TrainableModel(unet, adapter, motion + list(adapter.parameters()))
