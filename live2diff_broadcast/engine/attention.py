"""Uni-directional temporal attention with warmup sinks: the one fast path, as a diffusers processor.

Installed on the motion modules' temporal self-attentions only (attn1 and attn2 of every motion
transformer block); the spatial UNet keeps its own processors. Every processor of a UNet is bound
to one ``AttentionCall``, the hand-over object of a single UNet call: whoever makes the call fills
it (mode, per-row tables, the cache tensors to read), the processors read it and hand back each
frame's new K/V in it, and the caller writes those into the cache afterwards. A processor holds
no cache and no stream state, so one UNet can serve any stream, and the same processor runs in
eager PyTorch, under torch.compile and inside an exported ONNX/TensorRT graph.

Two modes:

* ``warmup``: one row of ``warmup`` frames at one denoising step attend to each other
  bidirectionally (positions 0..warmup-1); their PE-free K/V are handed back for that step's
  sink slots.
* ``stream``: B rows of one new frame each. Row r reads the cache of its step (read only) and
  attends to the sinks plus the most recent ``window - warmup`` frames including itself. The
  cache slot the row will write (``write_slot``) still holds the frame that is leaving the
  window, so it is masked out of the read, and the new frame's own K/V enter as one extra key at
  the row's query position, visible unless the row is a pipeline fill (whose write slot is the
  scratch slot ``W``): softmax over {window slots except the write slot} + {new key} is exactly
  softmax over the window after the write. The new K/V rows are handed back for the write.

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
from .unet import motion_transformers

CallMode = Literal["idle", "warmup", "stream"]
KV = tuple[torch.Tensor, torch.Tensor]


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


def positional_terms(attn: Attention, pe: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_q pe, W_k pe, W_v pe for positions 0..length-1, each (length, C) (no bias: linearity)."""
    table = pe[0, :length]  # (length, C)
    return F.linear(table, attn.to_q.weight), F.linear(table, attn.to_k.weight), F.linear(table, attn.to_v.weight)


def call_bias(key_bias: torch.Tensor, write_slot: torch.Tensor) -> torch.Tensor:
    """(B, W) visibility bias + (B,) write slots -> (B, W + 1) bias for the cache slots + the new key.

    The write slot is hidden from the cache read; the new key is visible iff the write slot is a
    real slot (``< W``); pipeline-fill rows write the scratch slot ``W`` and see only the sinks.
    """
    b, window = key_bias.shape
    slots = torch.arange(window, device=key_bias.device)  # (W,)
    hidden = slots[None, :] == write_slot[:, None]  # (B, W)
    cache_bias = key_bias.masked_fill(hidden, float("-inf"))
    zero = torch.zeros_like(key_bias[:, :1])  # (B, 1)
    self_bias = torch.where((write_slot < window)[:, None], zero, zero - float("inf"))  # (B, 1)
    return torch.cat([cache_bias, self_bias], dim=1)  # (B, W + 1)


class AttentionCall:
    """The hand-over between the maker of one UNet call and its temporal attention layers.

    Filled right before the call (``begin_warmup`` / ``begin_stream``), read by the processors
    during it, emptied by ``finish``, which returns what they handed back. Between calls it holds
    no tensors. diffusers' motion blocks pass no per-call arguments to their processors, so this
    shared object is how the call's inputs reach them.
    """

    def __init__(self, num_layers: int) -> None:
        self.num_layers = num_layers
        self.mode: CallMode = "idle"
        self.warmup_frames = 0
        self.key_positions: torch.Tensor | None = None  # (B, W) long: position of the frame in each slot
        self.query_position: torch.Tensor | None = None  # (B,) long: each row's own position
        self.bias: torch.Tensor | None = None  # (B, W + 1): cache slots (write slot hidden) + the new key
        self.caches: Sequence[KV] = ()  # per layer (K, V), each (B, HW, heads, W + 1, d), read only
        self.new_kv: dict[int, KV] = {}  # per layer, handed back by the processors

    def begin_warmup(self, frames: int) -> None:
        """Next UNet call: one row of ``frames`` warmup frames (the sinks)."""
        self.mode, self.warmup_frames, self.new_kv = "warmup", frames, {}

    def begin_stream(
        self,
        key_positions: torch.Tensor,
        key_bias: torch.Tensor,
        query_position: torch.Tensor,
        write_slot: torch.Tensor,
        caches: Sequence[torch.Tensor],
    ) -> None:
        """Next UNet call: B stream rows. Tables as in ``TemporalAttentionState.tables``; ``caches``:
        every layer's K then V, (B, HW, heads, W + 1, d) each, row r holding its own step's slots."""
        if len(caches) != 2 * self.num_layers:
            raise ValueError(
                f"expected {2 * self.num_layers} cache tensors (K and V of {self.num_layers} layers), got {len(caches)}"
            )
        self.mode, self.new_kv = "stream", {}
        self.key_positions, self.query_position = key_positions, query_position
        self.bias = call_bias(key_bias, write_slot)
        self.caches = [(caches[2 * i], caches[2 * i + 1]) for i in range(self.num_layers)]

    def finish(self) -> list[KV]:
        """End the call: every layer's new (K, V), in layer order. Warmup: (HW, heads, warmup, d)
        each; stream: (B, HW, heads, d) each."""
        handed, self.new_kv = self.new_kv, {}
        self.abort()
        missing = [i for i in range(self.num_layers) if i not in handed]
        if missing:
            raise RuntimeError(f"temporal attention layers {missing} handed back no K/V: is another processor installed?")
        return [handed[i] for i in range(self.num_layers)]

    def abort(self) -> None:
        """Drop the call's inputs (after a failed call, too)."""
        self.mode, self.new_kv = "idle", {}
        self.key_positions = self.query_position = self.bias = None
        self.caches = ()


class BoundTemporalProcessor:
    """A temporal attention processor bound to layer ``layer`` of an ``AttentionCall``."""

    def __init__(self, call: AttentionCall, layer: int, pos: DeferredPositionalEmbedding) -> None:
        self.call, self.layer, self.pos = call, layer, pos


class CausalTemporalAttnProcessor(BoundTemporalProcessor):
    """The fast path: reads the cache handed in for the call, hands back the new K/V."""

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        mode = self.call.mode
        if mode == "warmup":
            out = self._warmup(attn, hidden_states)
        elif mode == "stream":
            out = self._stream(attn, hidden_states)
        else:
            raise RuntimeError("causal temporal attention called outside a warmup or stream call (AttentionCall idle)")
        return attn.to_out[1](attn.to_out[0](out))

    def _warmup(self, attn: Attention, x: torch.Tensor) -> torch.Tensor:
        """x (HW, w, C): one row of the w warmup frames -> (HW, w, C); hands back K/V (HW, heads, w, d)."""
        n, f, c = x.shape
        heads, w = attn.heads, self.call.warmup_frames
        if f != w:
            raise ValueError(f"warmup call must carry exactly {w} frames, got {f}")
        d = c // heads
        q_raw, k_raw, v_raw = attn.to_q(x), attn.to_k(x), attn.to_v(x)  # (HW, w, C), no PE
        self.call.new_kv[self.layer] = (
            k_raw.view(n, w, heads, d).transpose(1, 2),  # (HW, heads, w, d)
            v_raw.view(n, w, heads, d).transpose(1, 2),
        )
        pe_q, pe_k, pe_v = positional_terms(attn, self.pos.pe, w)  # (w, C) each
        q = (q_raw + pe_q).view(n, w, heads, d).transpose(1, 2)  # (HW, heads, w, d)
        k = (k_raw + pe_k).view(n, w, heads, d).transpose(1, 2)
        v = (v_raw + pe_v).view(n, w, heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)  # bidirectional among sinks
        return out.transpose(1, 2).reshape(n, w, c)

    def _stream(self, attn: Attention, x: torch.Tensor) -> torch.Tensor:
        """x (B*HW, 1, C): one new frame per row -> (B*HW, 1, C); hands back K/V (B, HW, heads, d)."""
        call = self.call
        assert call.key_positions is not None and call.query_position is not None and call.bias is not None
        b, window = call.key_positions.shape
        n, f, c = x.shape
        if f != 1:
            raise ValueError(f"stream call must carry one frame per row, got {f}")
        heads = attn.heads
        hw, d = n // b, c // heads
        q = attn.to_q(x).view(b, hw, heads, d)
        k_new = attn.to_k(x).view(b, hw, heads, d)
        v_new = attn.to_v(x).view(b, hw, heads, d)
        kc, vc = call.caches[self.layer]
        keys, values = kc[:, :, :, :window], vc[:, :, :, :window]  # (B, HW, heads, W, d), read only, no copy

        # 1. positional terms: query and new key at the row's position, cached keys at their slots'
        pe_q, pe_k, pe_v = positional_terms(attn, self.pos.pe, window)  # (W, C)
        qpos = call.query_position  # (B,)
        q = q + pe_q[qpos].view(b, 1, heads, d)  # (B, HW, heads, d)
        pe_k_slots = pe_k[call.key_positions].view(b, window, heads, d).permute(0, 2, 1, 3)  # (B, heads, W, d)
        pe_v_slots = pe_v[call.key_positions].view(b, window, heads, d).permute(0, 2, 1, 3)

        # 2. scores over the cached window + one for the new key; hidden slots get -inf
        scores = (q.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2)  # (B, HW, heads, W)
        q_by_head = q.permute(0, 2, 1, 3)  # (B, heads, HW, d)
        scores = scores + (q_by_head @ pe_k_slots.transpose(-1, -2)).permute(0, 2, 1, 3)
        k_self = k_new + pe_k[qpos].view(b, 1, heads, d)
        self_score = (q * k_self).sum(dim=-1, keepdim=True)  # (B, HW, heads, 1)
        scores = torch.cat([scores, self_score], dim=-1) * attn.scale + call.bias.view(b, 1, 1, window + 1)
        probs = scores.softmax(dim=-1, dtype=torch.promote_types(q.dtype, torch.float32)).to(q.dtype)

        # 3. output = probs @ (V + W_v pe) over the window + p_self (v_new + W_v pe_q)
        p_cache, p_self = probs[..., :window], probs[..., window:]  # (B, HW, heads, W), (B, HW, heads, 1)
        out = (p_cache.unsqueeze(-2) @ values).squeeze(-2)  # (B, HW, heads, d)
        out = out + (p_cache.permute(0, 2, 1, 3) @ pe_v_slots).permute(0, 2, 1, 3)
        out = out + p_self * (v_new + pe_v[qpos].view(b, 1, heads, d))
        call.new_kv[self.layer] = (k_new, v_new)
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


def bound_call(layers: Sequence[tuple[Attention, DeferredPositionalEmbedding]]) -> AttentionCall | None:
    """The AttentionCall every layer's processor is bound to (layer i as layer i), else None."""
    procs = [attn.processor for attn, _ in layers]
    first = procs[0]
    if not isinstance(first, BoundTemporalProcessor):
        return None
    call = first.call
    if call.num_layers != len(layers):
        return None
    ok = all(isinstance(p, BoundTemporalProcessor) and p.call is call and p.layer == i for i, p in enumerate(procs))
    return call if ok else None


def install_causal_attention(unet: UNetMotionModel) -> AttentionCall:
    """Bind the UNet's temporal attentions to an AttentionCall and return it.

    Idempotent, checked once at set-up (never per call): if every temporal attention is already
    bound to one call (the fast path, or the reference installed over it), that call is returned
    and the processors are left as they are; otherwise the fast path is installed afresh.
    """
    layers = temporal_attentions(unet)
    call = bound_call(layers)
    if call is not None:
        return call
    call = AttentionCall(len(layers))
    for i, (attn, pos) in enumerate(layers):
        attn.set_processor(CausalTemporalAttnProcessor(call, i, pos))
    return call
