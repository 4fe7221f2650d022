"""The eager engine's UNet calls: ``StreamUNetGraph`` on one attention state and KV cache.

``CausalUNet`` owns the pairing the whole method rests on: a ``TemporalAttentionState`` (which
rows the next call carries and what each sees) and a ``TemporalKVCache`` (what they see), both
handed to the graph explicitly on every call. It is also the eager ``StreamRunner``: an
accelerated runner (compiled, onnxruntime, TensorRT) is built from it (``RunnerFactory``) and
takes the same state and cache, so a stream swaps runners without anything else changing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from .attention import temporal_attentions
from .kv_cache import TemporalAttentionState, TemporalKVCache, write_rows
from .stream_graph import StreamUNetGraph
from .unet import Live2DiffUNet


class StreamRunner(Protocol):
    """Runs one pipelined stream call (rows 0..n-1 at steps 0..n-1, as set on ``state``): returns
    eps (n, 4, 1, h, w) and writes the rows' new K/V into ``cache`` in place."""

    name: str
    state: TemporalAttentionState
    cache: TemporalKVCache

    def __call__(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor
    ) -> torch.Tensor: ...


class CausalUNet:
    """Warmup and stream calls of ``unet`` against ``state`` and a KV cache of ``num_steps`` steps."""

    name = "pytorch"

    def __init__(self, unet: Live2DiffUNet, state: TemporalAttentionState, num_steps: int) -> None:
        max_len = temporal_attentions(unet.unet)[0][1].max_len
        if state.causal.window > max_len:
            raise ValueError(f"window {state.causal.window} exceeds the motion modules' PE length {max_len}")
        self.graph = StreamUNetGraph(unet)
        self.state = state
        self.cache = TemporalKVCache(self.graph.num_layers, num_steps, state.causal)

    def warmup(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """After ``state.set_warmup(s)``: latents (1, 4, w, h, w), timesteps (1,), text (w, L, D),
        depth (w, 4, h, w) -> eps (1, 4, w, h, w); the frames' K/V become step s's sinks."""
        if self.state.mode != "warmup":
            raise RuntimeError("CausalUNet.warmup needs state.set_warmup(step) first")
        eps, new_kv = self.graph.warmup(latents, timesteps, text, depth)
        self.cache.write_sinks(self.state.step_start, new_kv)
        return eps

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """After ``state.set_stream(step_start, frames)``: B = len(frames) rows, latents (B, 4, 1, h, w),
        timesteps (B,), text (B, L, D), depth (B, 4, h, w) -> eps (B, 4, 1, h, w). Row r reads and
        then writes the cache of step ``step_start + r``."""
        st = self.state
        if st.mode != "stream":
            raise RuntimeError("a CausalUNet stream call needs state.set_stream(step_start, frames) first")
        b = st.rows
        caches = self.cache.step_views(st.step_start, b)  # (B, HW, heads, W + 1, d) views
        eps, *new = self.graph(latents, timesteps, text, depth, *st.tables(b), *caches)
        write_rows(caches, new, st.row_index[:b], st.write_slot[:b])
        return eps


# Builds an accelerated runner on a CausalUNet's graph, state and cache, for frames of (H, W) pixels.
RunnerFactory = Callable[[CausalUNet, tuple[int, int]], StreamRunner]


class SequentialUNet(Protocol):
    """The warmup call and the one-frame stream call of the sequential path, with ``CausalUNet``'s
    signatures and its ``state`` saying which step (and frame) each call is. ``CausalUNet`` itself
    (through the KV cache) or a baseline that recomputes the window instead (``engine/recompute.py``)."""

    def warmup(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor: ...

    def __call__(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor
    ) -> torch.Tensor: ...


# Builds the sequential calls on a stream's CausalUNet (its UNet and state); called again when the steps change.
SequentialFactory = Callable[[CausalUNet], SequentialUNet]
