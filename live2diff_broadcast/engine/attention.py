"""Uni-directional temporal attention with warmup sinks, as a diffusers attention processor.

Installed on the motion modules' temporal self-attentions only (attn1 and attn2 of every
motion transformer block). The spatial UNet keeps its own processors.

Two modes, chosen per UNet call by the shared ``TemporalAttentionState``:

* ``warmup``: one row of ``warmup`` frames at one denoising step attend to each other
  bidirectionally (positions 0..warmup-1); their PE-free K/V fill that step's sink slots.
* ``stream``: B rows of one new frame each, row r at denoising step ``step_start + r``. Each row
  writes its K/V into its step's ring slot, then attends to the sinks plus the most recent
  ``window - warmup`` frames including itself.

Positional encoding. The stock block adds ``pe[0:F]`` to the normed input before attn1/attn2;
we replace that module with ``DeferredPositionalEmbedding`` (same ``pe`` buffer, identity
forward) and apply the positional terms here. to_q/to_k/to_v are linear, so for a key in a slot
at position p: q . W_k(x + pe_p) = q . K_cached + q . (W_k pe_p) (a per-slot score bias) and
sum_j a_j W_v(x_j + pe_j) = a @ V_cached + a @ (W_v pe) (an output term). Neither materialises
a position-shifted copy of the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from torch import nn

from .config import CausalWindow
from .kv_cache import LayerKVCache, TemporalKVCache, plan_row
from .unet import motion_transformers

Mode = Literal["warmup", "stream"]


class DeferredPositionalEmbedding(nn.Module):
    """Holds the sinusoidal table (buffer ``pe``, shape (1, max_len, C)) but adds nothing.

    Same buffer name as diffusers' SinusoidalPositionalEmbedding, so weight names are unchanged;
    the temporal attention processors read ``pe`` and apply positions themselves.
    """

    pe: torch.Tensor  # (1, max_len, C)

    def __init__(self, pe: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pe", pe)

    @property
    def max_len(self) -> int:
        return int(self.pe.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def causal_mask(num_frames: int, causal: CausalWindow, device: torch.device | None = None) -> torch.Tensor:
    """(F, F) bool, True where query i may attend to key j, for frames 0..F-1 of one window.

    Warmup frames see each other bidirectionally; later frames see the sinks, themselves and
    earlier frames (F <= window, so no frame has left the window yet).
    """
    if num_frames > causal.window:
        raise ValueError(f"causal_mask covers one window ({causal.window} frames), got {num_frames}")
    idx = torch.arange(num_frames, device=device)
    earlier = idx[None, :] <= idx[:, None]
    both_warmup = (idx[None, :] < causal.warmup) & (idx[:, None] < causal.warmup)
    return earlier | both_warmup


class TemporalAttentionState:
    """What every causal processor needs to know about the current UNet call.

    Set by the stream before each call (``set_warmup`` / ``set_stream``). The per-row tables live
    in static device buffers updated in place (a CUDA graph can capture reads of them); their
    contents come from device tables built once per distinct row layout (no GPU->CPU sync and,
    in steady state, no host->device copy).
    """

    def __init__(self, causal: CausalWindow, max_rows: int, device: torch.device, dtype: torch.dtype) -> None:
        self.causal = causal
        self.max_rows = max_rows
        self.mode: Mode = "warmup"
        self.step_start = 0
        self.rows = 1
        self.row_frames: list[int | None] = []  # host copy, for reference processors and tests
        w = causal.window
        self.row_index = torch.arange(max_rows, device=device)
        self.write_slot = torch.zeros(max_rows, dtype=torch.long, device=device)
        self.key_positions = torch.zeros(max_rows, w, dtype=torch.long, device=device)
        self.query_position = torch.zeros(max_rows, dtype=torch.long, device=device)
        self.key_bias = torch.zeros(max_rows, w, dtype=dtype, device=device)  # 0 visible, -inf hidden
        self._table_cache: dict[tuple[tuple[int, bool] | None, ...], tuple[torch.Tensor, ...]] = {}

    def set_warmup(self, step: int) -> None:
        """Next call: the warmup frames, all at denoising step ``step``."""
        self.mode, self.step_start, self.rows = "warmup", step, 1
        self.row_frames = list(range(self.causal.warmup))

    def set_stream(self, step_start: int, frames: Sequence[int | None]) -> None:
        """Next call: row r holds frame ``frames[r]`` (None = pipeline fill) at step ``step_start + r``."""
        if not 1 <= len(frames) <= self.max_rows:
            raise ValueError(f"a stream call takes 1..{self.max_rows} rows, got {len(frames)}")
        b = len(frames)
        self.mode, self.step_start, self.rows, self.row_frames = "stream", step_start, b, list(frames)
        write_slot, key_positions, query_position, key_bias = self._tables(tuple(frames))
        self.write_slot[:b].copy_(write_slot)  # device to device: no host round trip
        self.key_positions[:b].copy_(key_positions)
        self.query_position[:b].copy_(query_position)
        self.key_bias[:b].copy_(key_bias)

    def _tables(self, frames: tuple[int | None, ...]) -> tuple[torch.Tensor, ...]:
        """Device tables for one row layout, built once per distinct layout.

        A layout depends only on each row's ring phase and on whether its window is full yet, so
        a stream meets a bounded set of them (about 2 x rolling + steps) and, once they are all
        built, a frame's bookkeeping is device-to-device copies only: no pageable host->device
        copy, which on CUDA would make the host wait for the GPU every frame.
        """
        key = tuple(
            None if f is None else ((f - self.causal.warmup) % self.causal.rolling, f - self.causal.warmup < self.causal.rolling)
            for f in frames
        )
        tables = self._table_cache.get(key)
        if tables is None:
            plans = [plan_row(frame, self.causal) for frame in frames]
            device, dtype = self.write_slot.device, self.key_bias.dtype
            valid = torch.tensor([p.key_valid for p in plans])
            tables = (
                torch.tensor([p.write_slot for p in plans], device=device),
                torch.tensor([p.key_positions for p in plans], device=device),
                torch.tensor([p.query_position for p in plans], device=device),
                torch.where(valid, 0.0, float("-inf")).to(device=device, dtype=dtype),
            )
            if len(self._table_cache) >= 4 * self.causal.window + 4 * self.max_rows:  # bounded, whatever the caller
                self._table_cache.clear()
            self._table_cache[key] = tables
        return tables


def _positional_terms(attn: Attention, pe: torch.Tensor, length: int) -> tuple[torch.Tensor, ...]:
    """W_q pe, W_k pe, W_v pe for positions 0..length-1, each (length, C) (no bias: linearity)."""
    table = pe[0, :length]
    return tuple(F.linear(table, proj.weight) for proj in (attn.to_q, attn.to_k, attn.to_v))


class CausalTemporalAttnProcessor:
    """Fast path: reads and writes the layer's preallocated KV cache in place."""

    def __init__(self, state: TemporalAttentionState, cache: LayerKVCache, pos: DeferredPositionalEmbedding) -> None:
        self.state = state
        self.cache = cache
        self.pos = pos

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if self.state.mode == "warmup":
            out = self._warmup(attn, hidden_states)
        else:
            out = self._stream(attn, hidden_states)
        return attn.to_out[1](attn.to_out[0](out))

    def _warmup(self, attn: Attention, x: torch.Tensor) -> torch.Tensor:
        n, f, c = x.shape  # (HW, warmup, C): one row of warmup frames
        heads, w = attn.heads, self.state.causal.warmup
        if f != w:
            raise ValueError(f"warmup call must carry exactly {w} frames, got {f}")
        d = c // heads
        q_raw, k_raw, v_raw = attn.to_q(x), attn.to_k(x), attn.to_v(x)  # (HW, w, C), no PE
        self.cache.ensure(n, heads, d, x.dtype, x.device)
        kc, vc = self.cache.tensors()
        s = self.state.step_start
        kc[s, :, :, :w] = k_raw.view(n, w, heads, d).transpose(1, 2)  # (HW, heads, w, d)
        vc[s, :, :, :w] = v_raw.view(n, w, heads, d).transpose(1, 2)
        pe_q, pe_k, pe_v = _positional_terms(attn, self.pos.pe, w)  # (w, C) each
        q = (q_raw + pe_q).view(n, w, heads, d).transpose(1, 2)  # (HW, heads, w, d)
        k = (k_raw + pe_k).view(n, w, heads, d).transpose(1, 2)
        v = (v_raw + pe_v).view(n, w, heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)  # bidirectional among sinks
        return out.transpose(1, 2).reshape(n, w, c)

    def _stream(self, attn: Attention, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        b, heads, window = st.rows, attn.heads, st.causal.window
        n, f, c = x.shape  # (B*HW, 1, C)
        if f != 1:
            raise ValueError(f"stream call must carry one frame per row, got {f}")
        hw, d = n // b, c // heads
        q = attn.to_q(x).view(b, hw, heads, d)
        k_new = attn.to_k(x).view(b, hw, heads, d)
        v_new = attn.to_v(x).view(b, hw, heads, d)

        # 1. write this frame's PE-free K/V into its step's ring slot (fill rows: scratch slot)
        kc, vc = self.cache.tensors()
        s0 = st.step_start
        kb, vb = kc[s0 : s0 + b], vc[s0 : s0 + b]  # (B, HW, heads, window+1, d) views
        rows, slots = st.row_index[:b], st.write_slot[:b]
        kb[rows, :, :, slots] = k_new
        vb[rows, :, :, slots] = v_new
        keys, values = kb[:, :, :, :window], vb[:, :, :, :window]  # (B, HW, heads, W, d), no copy

        # 2. positional terms for each row's query and each slot's current position
        pe_q, pe_k, pe_v = _positional_terms(attn, self.pos.pe, window)  # (W, C)
        q = q + pe_q[st.query_position[:b]].view(b, 1, heads, d)  # (B, HW, heads, d)
        pos = st.key_positions[:b]  # (B, W)
        pe_k_slots = pe_k[pos].view(b, window, heads, d).permute(0, 2, 1, 3)  # (B, heads, W, d)
        pe_v_slots = pe_v[pos].view(b, window, heads, d).permute(0, 2, 1, 3)

        # 3. scores = q.K + q.(W_k pe) over the window; invalid slots masked out
        scores = (q.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2)  # (B, HW, heads, W)
        q_by_head = q.permute(0, 2, 1, 3)  # (B, heads, HW, d)
        scores = scores + (q_by_head @ pe_k_slots.transpose(-1, -2)).permute(0, 2, 1, 3)
        scores = scores * attn.scale + st.key_bias[:b].view(b, 1, 1, window)
        probs = scores.softmax(dim=-1, dtype=torch.promote_types(q.dtype, torch.float32)).to(q.dtype)  # (B, HW, heads, W)

        # 4. output = probs @ V + probs @ (W_v pe)
        out = (probs.unsqueeze(-2) @ values).squeeze(-2)  # (B, HW, heads, d)
        out = out + (probs.permute(0, 2, 1, 3) @ pe_v_slots).permute(0, 2, 1, 3)
        return out.reshape(n, 1, c)


def temporal_attentions(unet: UNetMotionModel) -> list[tuple[Attention, DeferredPositionalEmbedding]]:
    """Both temporal self-attentions of every motion block, PE deferred to the processors.

    Replaces each block's SinusoidalPositionalEmbedding with a DeferredPositionalEmbedding
    sharing its table (idempotent).
    """
    found: list[tuple[Attention, DeferredPositionalEmbedding]] = []
    for transformer in motion_transformers(unet):
        for block in transformer.transformer_blocks:
            pos = block.pos_embed
            if isinstance(pos, SinusoidalPositionalEmbedding):
                pos = DeferredPositionalEmbedding(pos.pe)
                block.pos_embed = pos
            if not isinstance(pos, DeferredPositionalEmbedding):
                raise ValueError(f"motion block has no sinusoidal positional embedding (got {type(pos).__name__})")
            for attn in (block.attn1, block.attn2):
                if attn is None or attn.is_cross_attention:
                    raise ValueError("motion blocks must hold two temporal self-attentions (double_self_attention)")
                found.append((attn, pos))
    if not found:
        raise ValueError("the UNet has no motion modules: build it with build_motion_unet")
    return found


def install_causal_attention(
    unet: UNetMotionModel, state: TemporalAttentionState, num_steps: int
) -> TemporalKVCache:
    """Install the KV-cached causal processor on every temporal attention; return the cache."""
    layers = temporal_attentions(unet)
    max_len = layers[0][1].max_len
    if state.causal.window > max_len:
        raise ValueError(f"window {state.causal.window} exceeds the motion modules' PE length {max_len}")
    cache = TemporalKVCache(len(layers), num_steps, state.causal)
    for (attn, pos), layer_cache in zip(layers, cache.layers, strict=True):
        attn.set_processor(CausalTemporalAttnProcessor(state, layer_cache, pos))
    return cache
