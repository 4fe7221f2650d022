"""Shapes of the temporal KV cache, computed from the UNet's layout (no forward pass needed).

Used to allocate the cache for graph export, to declare static graph shapes, and to check the
allocated cache against its analytic size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import UNetMotionModel

from ..engine.attention import temporal_attentions
from ..engine.config import CausalWindow
from ..engine.unet import motion_transformers


@dataclass(frozen=True)
class LayerGeometry:
    """One temporal attention layer: ``hw`` spatial positions, ``heads`` x ``head_dim`` channels."""

    hw: int
    heads: int
    head_dim: int

    def cache_shape(self, num_steps: int, causal: CausalWindow) -> tuple[int, int, int, int, int]:
        """(n_steps, HW, heads, window + 1, head_dim): the layer's K (or V) tensor."""
        return (num_steps, self.hw, self.heads, causal.window + 1, self.head_dim)


def _half(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2  # stride-2 conv, padding 1
    return size


def layer_geometry(unet: UNetMotionModel, latent_h: int, latent_w: int) -> list[LayerGeometry]:
    """Every temporal attention's geometry, in ``temporal_attentions`` order."""
    num_blocks = len(unet.down_blocks)
    scale: dict[int, int] = {}
    for i, block in enumerate(unet.down_blocks):
        for module in block.modules():
            scale[id(module)] = i
    for j, block in enumerate(unet.up_blocks):
        for module in block.modules():
            scale[id(module)] = num_blocks - 1 - j
    per_transformer: dict[int, LayerGeometry] = {}
    for transformer in motion_transformers(unet):
        if id(transformer) not in scale:
            raise ValueError("a motion module outside the down/up blocks (mid-block module?): not AnimateDiff v1")
        s = scale[id(transformer)]
        attn = transformer.transformer_blocks[0].attn1
        channels = attn.to_q.out_features
        per_transformer[id(transformer)] = LayerGeometry(
            hw=_half(latent_h, s) * _half(latent_w, s), heads=attn.heads, head_dim=channels // attn.heads
        )
    out: list[LayerGeometry] = []
    for transformer in motion_transformers(unet):
        out += [per_transformer[id(transformer)]] * (2 * len(transformer.transformer_blocks))
    if len(out) != len(temporal_attentions(unet)):
        raise ValueError(f"geometry found {len(out)} layers, the UNet has {len(temporal_attentions(unet))}")
    return out


def analytic_kv_bytes(
    geometry: list[LayerGeometry], num_steps: int, causal: CausalWindow, dtype: torch.dtype
) -> tuple[int, int]:
    """(window slots only, with the scratch slot): 2 (K, V) x n x sum_layers HW*C x slots x bytes."""
    per_slot = 2 * num_steps * sum(g.hw * g.heads * g.head_dim for g in geometry) * dtype.itemsize
    return per_slot * causal.window, per_slot * (causal.window + 1)
