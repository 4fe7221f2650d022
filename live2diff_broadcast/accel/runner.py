"""Plugging an accelerated stream call into a Live2DiffStream without changing the stream.

``AcceleratedUNet`` stands in for ``components.unet``: warmup calls (and the non-pipelined
reference mode) run the eager UNet, which fills the sink slots; every pipelined stream call goes
to a ``StreamRunner`` that evaluates ``StreamUNetGraph`` on the stream's own state tables and
cache tensors and writes the new K/V rows into the cache in place.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ..engine.attention import TemporalAttentionState
from ..engine.kv_cache import TemporalKVCache
from ..engine.unet import Live2DiffUNet
from .stream_graph import StreamUNetGraph, write_rows


class StreamRunner(Protocol):
    """Evaluates one pipelined stream call: returns eps (n, 4, 1, h, w); updates the cache in place."""

    name: str

    def __call__(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor
    ) -> torch.Tensor: ...


def cache_tensors(cache: TemporalKVCache) -> list[torch.Tensor]:
    """Every layer's K then V, (n, HW, heads, W + 1, d) each, in graph input order."""
    return [t for layer in cache.layers for t in layer.tensors()]


def state_inputs(state: TemporalAttentionState, n: int) -> tuple[torch.Tensor, ...]:
    """The graph's per-call tables, views of the state's static buffers (no copy)."""
    return state.key_positions[:n], state.key_bias[:n], state.query_position[:n], state.write_slot[:n]


class TorchGraphRunner:
    """Eager evaluation of the functional graph: the reference the other runners are held to."""

    name = "pytorch-functional"

    def __init__(self, graph: StreamUNetGraph, state: TemporalAttentionState, cache: TemporalKVCache) -> None:
        self.graph, self.state, self.cache = graph, state, cache

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        n = latents.shape[0]
        caches = cache_tensors(self.cache)
        eps, *new = self.graph(latents, timesteps, text, depth, *state_inputs(self.state, n), *caches)
        write_rows(caches, new, self.state.row_index[:n], self.state.write_slot[:n])
        return eps


class AcceleratedUNet(nn.Module):
    """Same call as Live2DiffUNet; pipelined stream calls go to ``runner``, the rest run eagerly."""

    def __init__(
        self, eager: Live2DiffUNet, state: TemporalAttentionState, cache: TemporalKVCache, runner: StreamRunner
    ) -> None:
        super().__init__()
        self.eager = eager
        self.state, self.cache, self.runner = state, cache, runner
        self.runner_calls = 0

    @property
    def unet(self) -> nn.Module:
        return self.eager.unet

    @property
    def depth_adapter(self) -> nn.Module:
        return self.eager.depth_adapter

    def routes_to_runner(self) -> bool:
        st = self.state
        allocated = all(layer.k is not None for layer in self.cache.layers)
        return st.mode == "stream" and st.step_start == 0 and st.rows == self.cache.num_steps and allocated

    def forward(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text_embeds: torch.Tensor, depth_latents: torch.Tensor
    ) -> torch.Tensor:
        if self.routes_to_runner():
            self.runner_calls += 1
            return self.runner(latents, timesteps, text_embeds, depth_latents)
        return self.eager(latents, timesteps, text_embeds, depth_latents)
