"""Reference temporal attention: plain, slow and obviously right. Tests hold the fast path to it.

* ``MaskedTemporalAttnProcessor``: ordinary attention over a whole clip with a fixed boolean
  mask, on the stock model (diffusers' own positional embedding adds pe[0:F]).
* ``HistoryTemporalAttnProcessor``: keeps every frame's attention input in plain dicts and,
  for each query frame, recomputes K/V of its visible frames with explicit positions
  (no cache, no ring arithmetic). It runs behind the same call as the fast path: bound to the
  UNet's ``AttentionCall`` (it hands back each frame's plain K/V like the fast path, which the
  caller writes into a cache this processor never reads) and told which frame each row holds by
  the same ``TemporalAttentionState``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import Attention

from .attention import (
    AttentionCall,
    BoundTemporalProcessor,
    DeferredPositionalEmbedding,
    install_causal_attention,
    temporal_attentions,
)
from .kv_cache import TemporalAttentionState
from .unet import motion_transformers


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(N, F, C) -> (N, heads, F, C // heads)."""
    n, f, c = x.shape
    return x.view(n, f, heads, c // heads).transpose(1, 2)  # (N, heads, F, d)


class MaskedTemporalAttnProcessor:
    """Full-clip attention with ``mask`` (F, F) bool, True = may attend."""

    def __init__(self, mask: torch.Tensor) -> None:
        self.mask = mask

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        n, f, c = hidden_states.shape  # (B*HW, F, C), PE already added by the block
        q, k, v = (_split_heads(proj(hidden_states), attn.heads) for proj in (attn.to_q, attn.to_k, attn.to_v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask[:f, :f], scale=attn.scale)
        return attn.to_out[1](attn.to_out[0](out.transpose(1, 2).reshape(n, f, c)))


def install_masked_attention(unet: UNetMotionModel, mask: torch.Tensor) -> None:
    """Full-clip masked attention on every temporal attention of a stock motion UNet."""
    for transformer in motion_transformers(unet):
        for block in transformer.transformer_blocks:
            for attn in (block.attn1, block.attn2):
                attn.set_processor(MaskedTemporalAttnProcessor(mask))


class HistoryTemporalAttnProcessor(BoundTemporalProcessor):
    """Recomputes each query frame's visible K/V from the stored inputs of every frame."""

    def __init__(
        self, call: AttentionCall, layer: int, pos: DeferredPositionalEmbedding, state: TemporalAttentionState
    ) -> None:
        super().__init__(call, layer, pos)
        self.state = state
        self.history: dict[int, dict[int, torch.Tensor]] = {}  # step -> frame -> (HW, C) input

    def _attend(self, attn: Attention, query: torch.Tensor, context: torch.Tensor, query_pos: int) -> torch.Tensor:
        """query (N, Fq, C) at positions query_pos.., context (N, L, C) at positions 0..L-1."""
        pe = self.pos.pe[0]
        length, fq = context.shape[1], query.shape[1]
        q = attn.to_q(query + pe[query_pos : query_pos + fq])
        k = attn.to_k(context + pe[:length])
        v = attn.to_v(context + pe[:length])
        out = F.scaled_dot_product_attention(
            _split_heads(q, attn.heads), _split_heads(k, attn.heads), _split_heads(v, attn.heads), scale=attn.scale
        )
        return out.transpose(1, 2).reshape(query.shape)

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        st, causal = self.state, self.state.causal
        self.call.new_kv[self.layer] = self._plain_kv(attn, hidden_states, st.rows)
        if st.mode == "warmup":
            store = self.history.setdefault(st.step_start, {})
            for j in range(hidden_states.shape[1]):
                store[j] = hidden_states[:, j]
            out = self._attend(attn, hidden_states, hidden_states, 0)
            return attn.to_out[1](attn.to_out[0](out))
        hw = hidden_states.shape[0] // st.rows
        outs = []
        for r, frame in enumerate(st.row_frames):
            x = hidden_states[r * hw : (r + 1) * hw]  # (HW, 1, C)
            if frame is None:  # pipeline fill: nothing stored, output unused
                outs.append(torch.zeros_like(x))
                continue
            store = self.history.setdefault(st.step_start + r, {})
            store[frame] = x[:, 0]
            visible = list(range(causal.warmup)) + list(range(max(causal.warmup, frame - causal.rolling + 1), frame + 1))
            context = torch.stack([store[g] for g in visible], dim=1)  # (HW, L, C)
            outs.append(self._attend(attn, x, context, len(visible) - 1))
        return attn.to_out[1](attn.to_out[0](torch.cat(outs)))

    def _plain_kv(self, attn: Attention, x: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What the call hands back: PE-free K/V of the call's frames, in the fast path's layout
        (warmup: x (HW, w, C) -> (HW, heads, w, d); stream: x (B*HW, 1, C) -> (B, HW, heads, d))."""
        n, f, c = x.shape
        heads = attn.heads
        if self.state.mode == "warmup":
            return _split_heads(attn.to_k(x), heads), _split_heads(attn.to_v(x), heads)
        shape = (rows, n // rows, heads, c // heads)
        return attn.to_k(x).view(shape), attn.to_v(x).view(shape)


def install_history_attention(unet: UNetMotionModel, state: TemporalAttentionState) -> list[HistoryTemporalAttnProcessor]:
    """Replace the fast path with the history reference, bound to the same AttentionCall (so the
    stream and ``StreamUNetGraph`` on this UNet run the reference behind the same call)."""
    call = install_causal_attention(unet)
    processors = []
    for i, (attn, pos) in enumerate(temporal_attentions(unet)):
        proc = HistoryTemporalAttnProcessor(call, i, pos, state)
        attn.set_processor(proc)
        processors.append(proc)
    return processors
