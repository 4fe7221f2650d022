"""Baseline without a KV cache (the paper's Table 3): each frame re-runs the UNet over its
whole window (sinks + recent frames) at every denoising step, with the warmup+causal mask.

It stores each step's UNet *inputs* of the window's frames and recomputes everything from
them. Within the first window it equals the cached stream exactly; beyond it, past frames are
recomputed at their current window positions rather than the positions they had when they
were newest, so outputs drift slightly from the cached method (which is what Live2Diff runs).
Used by ``scripts/benchmark.py`` to measure what the cache saves (the ``no-cache`` rows), by the
evaluation modes and by training; held to the cached stream by ``tests/engine/test_recompute.py``.

``recompute_stream`` is an ordinary sequential ``Live2DiffStream`` whose warmup and per-frame UNet
calls are a ``WindowRecompute`` (``causal_unet.SequentialUNet``): the stream keeps its own denoising
loop, frame bookkeeping and outputs; only what one UNet call sees changes. ``sinks="sliding"``
is the ablation where the warmup area slides along with the latest predecessors (no fixed sinks).
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from live2diff_broadcast.engine.attention import DeferredPositionalEmbedding, causal_mask, temporal_attentions
from live2diff_broadcast.engine.causal_unet import CausalUNet
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream

Sinks = Literal["fixed", "sliding"]


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


class WindowRecompute:
    """The warmup and one-frame calls of a stream, each a plain UNet forward over the whole window.

    Per step it keeps the UNet inputs of the frames in the window: ``sinks="fixed"``: the warmup
    frames, then the latest ``window - warmup`` frames; ``sinks="sliding"``: the latest ``window``
    frames, the warmup frames first among them until they slide out. ``state`` (the stream's)
    says which step each call is; a warmup at step 0 starts a new window.
    """

    def __init__(self, causal_unet: CausalUNet, sinks: Sinks = "fixed") -> None:
        if sinks not in ("fixed", "sliding"):
            raise ValueError(f"sinks must be 'fixed' or 'sliding', got {sinks!r}")
        self.unet, self.state, self.sinks = causal_unet.graph.unet, causal_unet.state, sinks
        causal = self.state.causal
        for attn, pos in temporal_attentions(self.unet.unet):
            attn.set_processor(WindowAttnProcessor(pos, causal))
        self.recent_len = causal.rolling if sinks == "fixed" else causal.window
        self.fixed: list[torch.Tensor] = []  # per step: (w, 4, h, w) sink inputs ((0, 4, h, w) when sliding)
        self.fixed_depth = torch.empty(0)  # (w or 0, 4, h, w)
        self.recent: list[deque[torch.Tensor]] = []  # per step: the newest inputs, (4, h, w) each
        self.recent_depth: deque[torch.Tensor] = deque(maxlen=self.recent_len)

    def warmup(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """latents (1, 4, w, h, w), timesteps (1,), text (w, L, D), depth (w, 4, h, w) -> eps (1, 4, w, h, w)."""
        step, x = self.state.step_start, latents[0].transpose(0, 1)  # (w, 4, h, w)
        if step == 0:  # a new warmup: the window starts over
            self.fixed, self.recent = [], []
            self.fixed_depth, self.recent_depth = self._split(depth)
        sinks, recent = self._split(x)
        self.fixed.append(sinks)
        self.recent.append(recent)
        return self.unet(latents, timesteps, text, depth)

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """One frame: latents (1, 4, 1, h, w), timesteps (1,), text (1, L, D), depth (1, 4, h, w)
        -> its eps (1, 4, 1, h, w), the newest frame of a forward over the window."""
        step = self.state.step_start
        if step == 0:  # the frame's first step: its depth joins the window
            self.recent_depth.append(depth[0])
        self.recent[step].append(latents[0, :, 0])
        window = torch.cat([self.fixed[step], torch.stack(list(self.recent[step]))])  # (L, 4, h, w)
        window_depth = torch.cat([self.fixed_depth, torch.stack(list(self.recent_depth))])  # (L, 4, h, w)
        frames = window.shape[0]
        eps = self.unet(window[None].transpose(1, 2), timesteps, text.expand(frames, -1, -1), window_depth)  # (1, 4, L, h, w)
        return eps[:, :, -1:]

    def _split(self, frames: torch.Tensor) -> tuple[torch.Tensor, deque[torch.Tensor]]:
        """The warmup frames (w, ...) -> (the fixed part of the window, its recent part)."""
        if self.sinks == "fixed":
            return frames, deque(maxlen=self.recent_len)
        return frames[:0], deque(frames.unbind(0), maxlen=self.recent_len)


def recompute_stream(
    components: Live2DiffComponents,
    config: StreamConfig,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    sinks: Sinks = "fixed",
) -> Live2DiffStream:
    """A sequential Live2DiffStream whose UNet calls re-run the whole window (no KV cache).

    Installs the window processors on ``components``' UNet (the stream's own processors are
    replaced: give it components no cached stream uses)."""
    return Live2DiffStream(
        components, config, device=device, dtype=dtype, pipelined=False,
        sequential_unet=lambda causal_unet: WindowRecompute(causal_unet, sinks),
    )
