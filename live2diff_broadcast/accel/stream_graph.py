"""The stream-mode UNet call as one pure function: the graph every accelerated backend runs.

``StreamUNetGraph.forward`` takes the pipelined call's inputs (n rows, one frame each, row r at
denoising step r), the per-row attention tables and every layer's K/V cache tensors, and
returns the noise prediction plus each layer's new K/V rows. It writes nothing: the runtime
scatters the new rows into the ring slots in place (``write_rows``), so the cache never travels
through the graph as an output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..engine.attention import temporal_attentions
from ..engine.unet import Live2DiffUNet
from .functional_attention import FunctionalStreamAttnProcessor, GraphCallIO, call_bias

STATE_INPUTS = ("key_positions", "key_bias", "query_position", "write_slot")
FRAME_INPUTS = ("latents", "timesteps", "text", "depth")


def input_names(num_layers: int) -> list[str]:
    caches = [f"{kv}_cache_{i:02d}" for i in range(num_layers) for kv in ("k", "v")]
    return [*FRAME_INPUTS, *STATE_INPUTS, *caches]


def output_names(num_layers: int) -> list[str]:
    return ["eps", *(f"{kv}_new_{i:02d}" for i in range(num_layers) for kv in ("k", "v"))]


class StreamUNetGraph(nn.Module):
    """Functional stream call around a Live2DiffUNet (shares its weights; installs routing
    processors that fall back to the existing ones outside a graph call, so warmup and the
    eager stream keep working on the same UNet)."""

    def __init__(self, unet: Live2DiffUNet, window: int) -> None:
        super().__init__()
        self.unet = unet
        self.window = window
        self.io = GraphCallIO()
        layers = temporal_attentions(unet.unet)
        for i, (attn, pos) in enumerate(layers):
            fallback = attn.processor
            if isinstance(fallback, FunctionalStreamAttnProcessor):  # idempotent: re-wrap the original
                fallback = fallback.fallback
            attn.set_processor(FunctionalStreamAttnProcessor(self.io, i, pos, window, fallback))
        self.num_layers = len(layers)

    def forward(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        text: torch.Tensor,
        depth: torch.Tensor,
        key_positions: torch.Tensor,
        key_bias: torch.Tensor,
        query_position: torch.Tensor,
        write_slot: torch.Tensor,
        *caches: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """
        Args:
            latents: (n, 4, 1, h, w) noisy latents, row r at denoising step r.
            timesteps: (n,) long. text: (n, L, D). depth: (n, 4, h, w) clean depth latents.
            key_positions: (n, W) long; key_bias: (n, W) 0 / -inf; query_position, write_slot: (n,) long
                (``TemporalAttentionState``'s tables).
            caches: per layer K then V, each (n, HW, heads, W + 1, head_dim), read only.
        Returns:
            eps (n, 4, 1, h, w), then per layer new K and new V rows, each (n, HW, heads, head_dim).
        """
        if len(caches) != 2 * self.num_layers:
            raise ValueError(f"expected {2 * self.num_layers} cache tensors (K and V of {self.num_layers} layers), got {len(caches)}")
        io = self.io
        io.rows = latents.shape[0]
        io.key_positions, io.query_position = key_positions, query_position
        io.bias = call_bias(key_bias, write_slot)
        io.caches = [(caches[2 * i], caches[2 * i + 1]) for i in range(self.num_layers)]
        io.new_kv = {}
        io.active = True
        try:
            eps = self.unet(latents, timesteps, text, depth)
        finally:
            io.active = False
            io.caches, io.bias = [], None
        new = [t for i in range(self.num_layers) for t in io.new_kv.pop(i)]
        io.new_kv = {}
        return (eps, *new)


def write_rows(
    caches: Sequence[torch.Tensor], new_rows: Sequence[torch.Tensor], rows: torch.Tensor, write_slot: torch.Tensor
) -> None:
    """Scatter each layer's new K/V rows (n, HW, heads, d) into slot ``write_slot[r]`` of step
    ``rows[r]``, in place (``rows``/``write_slot``: static (n,) long buffers, no allocation)."""
    for cache, new in zip(caches, new_rows, strict=True):
        cache[rows, :, :, write_slot] = new  # index_put_: (n, HW, heads, d), tiny next to the cache
