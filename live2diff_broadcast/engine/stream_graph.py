"""The UNet call with causal temporal attention, as pure functions of explicit inputs.

``StreamUNetGraph.forward`` is the stream call: n rows, one frame each, the per-row attention
tables and every layer's K/V cache tensors in; the noise prediction plus each layer's new K/V
rows out. It writes nothing: the caller scatters the new rows into the ring slots in place
(``kv_cache.write_rows``), so the cache never travels through the graph as an output. The eager
engine runs exactly this function (``CausalUNet``), and every accelerated backend runs it too
(torch.compile, the exported ONNX graph, TensorRT).

``StreamUNetGraph.warmup`` is the warmup call (eager only): the warmup frames in, their noise
prediction and their K/V (for the sink slots) out.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import KV, install_causal_attention
from .unet import Live2DiffUNet

STATE_INPUTS = ("key_positions", "key_bias", "query_position", "write_slot")
FRAME_INPUTS = ("latents", "timesteps", "text", "depth")


def input_names(num_layers: int) -> list[str]:
    """The stream graph's inputs, in order (ONNX/TensorRT tensor names)."""
    caches = [f"{kv}_cache_{i:02d}" for i in range(num_layers) for kv in ("k", "v")]
    return [*FRAME_INPUTS, *STATE_INPUTS, *caches]


def output_names(num_layers: int) -> list[str]:
    """The stream graph's outputs, in order."""
    return ["eps", *(f"{kv}_new_{i:02d}" for i in range(num_layers) for kv in ("k", "v"))]


class StreamUNetGraph(nn.Module):
    """Warmup and stream calls of a Live2DiffUNet (shares its weights).

    Binds the UNet's temporal attentions to an ``AttentionCall`` (``install_causal_attention``:
    once, idempotent, so any number of graphs can wrap one UNet) and hands each call's inputs
    over through it.
    """

    def __init__(self, unet: Live2DiffUNet) -> None:
        super().__init__()
        self.unet = unet
        self.call = install_causal_attention(unet.unet)
        self.num_layers = self.call.num_layers

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
        """One stream call; reads the caches, writes nothing.

        Args:
            latents: (B, 4, 1, h, w) noisy latents, row r at denoising step ``step_start + r``.
            timesteps: (B,) long. text: (B, L, D). depth: (B, 4, h, w) clean depth latents.
            key_positions: (B, W) long; key_bias: (B, W) 0 / -inf; query_position, write_slot: (B,)
                long (``TemporalAttentionState.tables``).
            caches: per layer K then V, each (B, HW, heads, W + 1, head_dim), row r holding the
                slots of its own step; read only.
        Returns:
            eps (B, 4, 1, h, w), then per layer new K and new V rows, each (B, HW, heads, head_dim).
        """
        call = self.call
        call.begin_stream(key_positions, key_bias, query_position, write_slot, caches)
        try:
            eps = self.unet(latents, timesteps, text, depth)
            new = call.finish()
        finally:
            call.abort()
        return (eps, *(t for kv in new for t in kv))

    def warmup(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor
    ) -> tuple[torch.Tensor, list[KV]]:
        """One warmup call: the w sink frames attend to each other bidirectionally.

        Args:
            latents: (1, 4, w, h, w) noisy latents of the warmup frames, one denoising step.
            timesteps: (1,). text: (w, L, D). depth: (w, 4, h, w).
        Returns:
            eps (1, 4, w, h, w) and per layer the frames' PE-free (K, V), each (HW, heads, w, d).
        """
        call = self.call
        call.begin_warmup(latents.shape[2])
        try:
            eps = self.unet(latents, timesteps, text, depth)
            new = call.finish()
        finally:
            call.abort()
        return eps, new
