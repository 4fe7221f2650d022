"""Baseline without a KV cache (the paper's Table 3): each frame re-runs the UNet over its
whole window (sinks + recent frames) at every denoising step, with the warmup+causal mask.

It stores each step's UNet *inputs* of the window's frames and recomputes everything from
them. Within the first window it equals the cached stream exactly; beyond it, past frames are
recomputed at their current window positions rather than the positions they had when they
were newest, so outputs drift slightly from the cached method (which is what Live2Diff runs).
Used by ``scripts/benchmark.py`` to measure what the cache saves (the ``no-cache`` rows), by the
evaluation modes and by training; held to the cached stream by ``tests/engine/test_recompute.py``.
"""

from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from live2diff_broadcast.engine.attention import DeferredPositionalEmbedding, causal_mask, temporal_attentions
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream, _Encoded


class WindowAttnProcessor:
    """Full-window attention on PE-free inputs: adds pe[0:L] and applies the causal mask."""

    def __init__(self, pos: DeferredPositionalEmbedding, causal: CausalWindow) -> None:
        self.pos, self.causal = pos, causal

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        """hidden_states (HW, L, C): the L frames of one window, PE-free -> (HW, L, C)."""
        n, f, c = hidden_states.shape
        x = hidden_states + self.pos.pe[:, :f]
        heads, d = attn.heads, c // attn.heads
        q, k, v = (proj(x).view(n, f, heads, d).transpose(1, 2) for proj in (attn.to_q, attn.to_k, attn.to_v))
        mask = causal_mask(f, self.causal, device=x.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scale)
        return attn.to_out[1](attn.to_out[0](out.transpose(1, 2).reshape(n, f, c)))


class WindowRecomputeStream(Live2DiffStream):
    """A sequential Live2DiffStream whose UNet calls re-run the whole window (no KV cache)."""

    def __init__(
        self, components: Live2DiffComponents, config: StreamConfig, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(components, config, device, dtype, pipelined=False)
        for attn, pos in temporal_attentions(components.unet.unet):
            attn.set_processor(WindowAttnProcessor(pos, config.causal))
        steps, rolling = config.num_steps, config.causal.rolling
        self.sink_inputs: list[torch.Tensor] = []  # per step: (w, 4, h, w) UNet inputs of the sinks
        self.sink_depth = torch.empty(0)
        self.recent_inputs = [deque[torch.Tensor](maxlen=rolling) for _ in range(steps)]
        self.recent_depth = deque[torch.Tensor](maxlen=rolling)

    def _warmup(self, frames: list[_Encoded]) -> list[tuple[int, torch.Tensor]]:
        latents = torch.stack([f.latent for f in frames])
        self.sink_depth = torch.stack([f.depth for f in frames])
        noise = torch.stack([self.noise(j, 0) for j in range(len(frames))])
        x = self.schedule.add_noise(latents, noise, 0)
        self.sink_inputs = []
        for q in self.recent_inputs:
            q.clear()
        self.recent_depth.clear()
        for s in range(self.config.num_steps):
            self.sink_inputs.append(x)
            eps = self._unet(self.components.unet, x[None], self.schedule.timesteps[s : s + 1], self.sink_depth)[0]
            denoised = self._denoise(x, eps, noise, s)
            if s + 1 < self.config.num_steps:
                noise = torch.stack([self.noise(j, s + 1) for j in range(len(frames))])
                x = self.schedule.add_noise(denoised, noise, s + 1)
        self.pending = []
        return [(f.frame, d) for f, d in zip(frames, denoised, strict=True)]

    def _stream_sequential(self, local: int, encoded: _Encoded) -> list[tuple[int, torch.Tensor]]:
        self.recent_depth.append(encoded.depth)
        depth = torch.cat([self.sink_depth, torch.stack(list(self.recent_depth))])  # (L, 4, h, w)
        noise = self.noise(local, 0)
        x = self.schedule.add_noise(encoded.latent, noise, 0)
        for s in range(self.config.num_steps):
            self.recent_inputs[s].append(x)
            window = torch.cat([self.sink_inputs[s], torch.stack(list(self.recent_inputs[s]))])  # (L, 4, h, w)
            eps = self._unet(self.components.unet, window[None], self.schedule.timesteps[s : s + 1], depth)[0, -1]  # newest
            x = self._denoise(x, eps, noise, s)
            if s + 1 < self.config.num_steps:
                noise = self.noise(local, s + 1)
                x = self.schedule.add_noise(x, noise, s + 1)
        return [(encoded.frame, x)]
