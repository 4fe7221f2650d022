"""Plugging an accelerated stream call into a Live2DiffStream without changing the stream.

``AcceleratedUNet`` stands in for ``components.unet``: warmup calls (and the non-pipelined
reference mode) run the eager UNet, which fills the sink slots; every pipelined stream call goes
to a ``StreamRunner`` that evaluates ``StreamUNetGraph`` on the stream's own state tables and
cache tensors and writes the new K/V rows into the cache in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from ..engine.attention import CausalTemporalAttnProcessor, TemporalAttentionState, temporal_attentions
from ..engine.kv_cache import TemporalKVCache
from ..engine.unet import Live2DiffUNet
from .stream_graph import StreamUNetGraph, write_rows

logger = logging.getLogger(__name__)


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


RunnerFactory = Callable[[TemporalAttentionState, TemporalKVCache, tuple[int, int]], StreamRunner]


def bound_state(unet: nn.Module) -> tuple[TemporalAttentionState, TemporalKVCache] | None:
    """The attention state and cache the UNet's causal processors are currently bound to.

    A stream (re)installs its processors on construction and on a step-count change, so the
    processors, not whoever wrapped the UNet earlier, say which stream it now serves.
    """
    layers = temporal_attentions(unet)
    procs = [getattr(attn.processor, "fallback", attn.processor) for attn, _ in layers]
    if not all(isinstance(p, CausalTemporalAttnProcessor) for p in procs):
        return None
    first = procs[0]
    cache = TemporalKVCache(0, first.cache.num_steps, first.state.causal)
    cache.layers = [p.cache for p in procs]
    return first.state, cache


class AcceleratedUNet(nn.Module):
    """Same call as Live2DiffUNet; pipelined stream calls go to ``runner``, the rest run eagerly.

    If the UNet gets bound to another attention state / cache (the stream was reconfigured to
    another step count, or the components moved to a new stream), the runner is rebuilt for it
    with ``rebuild`` (engines come from the cache); without ``rebuild`` the calls run eagerly.
    """

    def __init__(
        self,
        eager: Live2DiffUNet,
        state: TemporalAttentionState,
        cache: TemporalKVCache,
        runner: StreamRunner,
        rebuild: RunnerFactory | None = None,
    ) -> None:
        super().__init__()
        self.eager = eager
        self.state, self.cache, self.runner = state, cache, runner
        self.rebuild = rebuild
        self.runner_calls = 0
        self._detached = False

    @property
    def unet(self) -> nn.Module:
        return self.eager.unet

    @property
    def depth_adapter(self) -> nn.Module:
        return self.eager.depth_adapter

    def _follow_rebinding(self, latents: torch.Tensor) -> None:
        first = temporal_attentions(self.eager.unet)[0][0].processor
        current = getattr(first, "fallback", first)
        if getattr(current, "state", self.state) is self.state:
            return
        bound = bound_state(self.eager.unet)
        if bound is None:
            return
        self.state, self.cache = bound
        if self.rebuild is None:
            self._detached = True
            logger.warning("the UNet was re-bound to a new stream state; %s runner detached, running eagerly", self.runner.name)
            return
        logger.info("the UNet was re-bound to a new stream state (steps=%d): rebuilding the %s runner",
                    self.cache.num_steps, self.runner.name)
        self.runner = self.rebuild(self.state, self.cache, (latents.shape[-2] * 8, latents.shape[-1] * 8))
        self._detached = False

    def routes_to_runner(self) -> bool:
        st = self.state
        allocated = all(layer.k is not None for layer in self.cache.layers)
        return not self._detached and st.mode == "stream" and st.step_start == 0 and st.rows == self.cache.num_steps and allocated

    def forward(
        self, latents: torch.Tensor, timesteps: torch.Tensor, text_embeds: torch.Tensor, depth_latents: torch.Tensor
    ) -> torch.Tensor:
        self._follow_rebinding(latents)
        if self.routes_to_runner():
            self.runner_calls += 1
            return self.runner(latents, timesteps, text_embeds, depth_latents)
        return self.eager(latents, timesteps, text_embeds, depth_latents)
