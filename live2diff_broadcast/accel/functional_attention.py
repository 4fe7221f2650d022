"""Stream-mode temporal attention as a pure function: cache K/V in, the new frame's K/V out.

``engine/attention.py``'s processor writes each row's K/V into its ring slot and then reads the
window. Exported graphs must not write into their inputs, and copying the whole cache through
the graph every frame is what makes the reference TensorRT path slow. This processor reads the
cache without modifying it and gets the same result:

* the row's write slot is masked out of the cache read (it holds the frame that is leaving);
* the new frame's own K/V enter as one extra key/value term, at the write slot's position
  (the row's query position) and with the write slot's visibility (fill rows, whose write
  slot is the scratch slot, see only the sinks);
* the new K/V rows are returned, and the runtime writes them into the ring slots in place.

softmax over {window slots except write slot} + {new key} is exactly softmax over the window
after the write; only the order of the sums differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from ..engine.attention import DeferredPositionalEmbedding


@dataclass
class GraphCallIO:
    """Inputs and outputs of one functional stream call, shared by every layer's processor.

    Filled by ``StreamUNetGraph.forward`` for the duration of one UNet call (``active``).
    """

    active: bool = False
    rows: int = 1
    key_positions: torch.Tensor | None = None  # (B, W) long
    query_position: torch.Tensor | None = None  # (B,) long
    bias: torch.Tensor | None = None  # (B, W + 1): window slots (write slot hidden) + the new key
    caches: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per layer (n, HW, heads, W+1, d)
    new_kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # per layer (B, HW, heads, d)


def positional_terms(attn: Attention, pe: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_q pe, W_k pe, W_v pe for positions 0..length-1, each (length, C) (no bias: linearity)."""
    table = pe[0, :length]
    return F.linear(table, attn.to_q.weight), F.linear(table, attn.to_k.weight), F.linear(table, attn.to_v.weight)


def call_bias(key_bias: torch.Tensor, write_slot: torch.Tensor) -> torch.Tensor:
    """(B, W) visibility bias + (B,) write slots -> (B, W + 1) bias for cache slots + new key.

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


class FunctionalStreamAttnProcessor:
    """Routes to ``fallback`` (the eager processor) unless a functional stream call is active."""

    def __init__(
        self,
        io: GraphCallIO,
        layer: int,
        pos: DeferredPositionalEmbedding,
        window: int,
        fallback: object | None,
    ) -> None:
        self.io, self.layer, self.pos, self.window, self.fallback = io, layer, pos, window, fallback

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if not self.io.active:
            if self.fallback is None or not callable(self.fallback):
                raise RuntimeError("functional stream processor called outside a StreamUNetGraph call")
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        out = self._stream(attn, hidden_states)
        return attn.to_out[1](attn.to_out[0](out))

    def _stream(self, attn: Attention, x: torch.Tensor) -> torch.Tensor:
        io, window = self.io, self.window
        assert io.key_positions is not None and io.query_position is not None and io.bias is not None
        b, heads = io.rows, attn.heads
        n, f, c = x.shape  # (B*HW, 1, C)
        if f != 1:
            raise ValueError(f"stream call must carry one frame per row, got {f}")
        hw, d = n // b, c // heads
        q = attn.to_q(x).view(b, hw, heads, d)
        k_new = attn.to_k(x).view(b, hw, heads, d)
        v_new = attn.to_v(x).view(b, hw, heads, d)
        kc, vc = io.caches[self.layer]
        keys, values = kc[:b, :, :, :window], vc[:b, :, :, :window]  # (B, HW, heads, W, d), read only

        # 1. positional terms: query and new key at the row's position, cached keys at their slots'
        pe_q, pe_k, pe_v = positional_terms(attn, self.pos.pe, window)  # (W, C)
        qpos = io.query_position
        q = q + pe_q[qpos].view(b, 1, heads, d)  # (B, HW, heads, d)
        pe_k_slots = pe_k[io.key_positions].view(b, window, heads, d).permute(0, 2, 1, 3)  # (B, heads, W, d)
        pe_v_slots = pe_v[io.key_positions].view(b, window, heads, d).permute(0, 2, 1, 3)

        # 2. scores over the cached window + one for the new key
        scores = (q.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2)  # (B, HW, heads, W)
        q_by_head = q.permute(0, 2, 1, 3)  # (B, heads, HW, d)
        scores = scores + (q_by_head @ pe_k_slots.transpose(-1, -2)).permute(0, 2, 1, 3)
        k_self = k_new + pe_k[qpos].view(b, 1, heads, d)
        self_score = (q * k_self).sum(dim=-1, keepdim=True)  # (B, HW, heads, 1)
        scores = torch.cat([scores, self_score], dim=-1) * attn.scale + io.bias.view(b, 1, 1, window + 1)
        probs = scores.softmax(dim=-1, dtype=torch.promote_types(q.dtype, torch.float32)).to(q.dtype)

        # 3. output = probs @ (V + W_v pe) over the window + p_self (v_new + W_v pe_q)
        p_cache, p_self = probs[..., :window], probs[..., window:]  # (B, HW, heads, W), (.., 1)
        out = (p_cache.unsqueeze(-2) @ values).squeeze(-2)  # (B, HW, heads, d)
        out = out + (p_cache.permute(0, 2, 1, 3) @ pe_v_slots).permute(0, 2, 1, 3)
        out = out + p_self * (v_new + pe_v[qpos].view(b, 1, heads, d))
        io.new_kv[self.layer] = (k_new, v_new)
        return out.reshape(n, 1, c)
