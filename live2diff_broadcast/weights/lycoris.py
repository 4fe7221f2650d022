"""LyCORIS LoHa and LoKr layers (as civitai ships them, kohya-named): their weight deltas.

The products come from PEFT's own LoHa/LoKr code (``peft.tuners.loha.layer.make_weight[_cp]``,
``peft.tuners.lokr.layer.make_kron`` / ``make_weight_cp``), the functions its layers'
``get_delta_weight`` call. What PEFT has no function for is the *file* side: which keys make a
layer and which alpha/rank scale applies; that follows LyCORIS (``lycoris/modules/loha.py``,
``lokr.py``) and the loaders that read its files (ComfyUI ``weight_adapter``, diffusers
``_bake_lokr_alpha_``):

* LoHa: ``ΔW = (w1_a @ w1_b) ⊙ (w2_a @ w2_b) · alpha / rank`` with ``rank = w1_b.shape[0]``;
  with ``hada_t1``/``hada_t2`` (CP/Tucker conv) each factor is
  ``einsum('i j k l, j r, i p -> p r k l', t, w_b, w_a)``.
* LoKr: ``ΔW = kron(w1, w2) · alpha / rank``, each of w1/w2 stored whole or as ``a @ b``
  (w2 optionally Tucker with ``lokr_t2``); ``rank`` is the inner size of the factored one (w2's
  if both are); when neither is factored LyCORIS applies no scale (alpha is ignored).

No ``alpha`` key: scale 1 (alpha = rank), as in kohya's LoRA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from peft.tuners.loha.layer import make_weight as loha_weight
from peft.tuners.loha.layer import make_weight_cp as loha_weight_cp
from peft.tuners.lokr.layer import make_kron
from peft.tuners.lokr.layer import make_weight_cp as lokr_weight_cp

LOHA_PARTS = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2")
LOKR_PARTS = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")


class LayerFormatError(ValueError):
    """A layer's tensors do not make a LoHa/LoKr layer (missing part, inner sizes that disagree)."""


def _need(parts: Mapping[str, torch.Tensor], *names: str) -> list[torch.Tensor]:
    missing = [n for n in names if n not in parts]
    if missing:
        raise LayerFormatError(f"lacks {', '.join(missing)} (has {', '.join(sorted(parts))})")
    return [parts[n] for n in names]


def _inner(a: torch.Tensor, b: torch.Tensor, what: str, cp: bool) -> None:
    """a @ b (or the CP form, where both carry the rank first) must agree on the rank."""
    ok = a.shape[0] == b.shape[0] if cp else (a.ndim == 2 and a.shape[1] == b.shape[0])
    if not ok:
        raise LayerFormatError(f"{what}: inner sizes disagree ({tuple(a.shape)} and {tuple(b.shape)})")


def _core(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    """A CP/Tucker core (rank_a, rank_b, kh, kw) between its two projections (rank_a, out), (rank_b, in)."""
    if t.ndim != 4 or (t.shape[0], t.shape[1]) != (a.shape[0], b.shape[0]):
        raise LayerFormatError(f"{what} {tuple(t.shape)} does not fit its projections {tuple(a.shape)} and {tuple(b.shape)}")


def _scale(alpha: float | None, rank: int | None) -> float:
    return 1.0 if alpha is None or rank is None else alpha / rank


def _to(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t.to(dtype)


@dataclass
class LohaLayer:
    target: str  # "unet" | "text_encoder"
    module: str  # kohya underscore name in the target
    w1a: torch.Tensor  # (out, r); CP: (r, out)
    w1b: torch.Tensor  # (r, in * kh * kw); CP: (r, in)
    w2a: torch.Tensor
    w2b: torch.Tensor
    t1: torch.Tensor | None  # CP core (r, r, kh, kw)
    t2: torch.Tensor | None
    alpha: float | None
    source: str = ""  # the layer's name in the file

    @classmethod
    def from_parts(cls, target: str, module: str, parts: Mapping[str, torch.Tensor], alpha: float | None, source: str) -> LohaLayer:
        w1a, w1b, w2a, w2b = _need(parts, "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")
        t1, t2 = parts.get("hada_t1"), parts.get("hada_t2")
        if (t1 is None) != (t2 is None):
            raise LayerFormatError("has one of hada_t1/hada_t2 but not the other")
        cp = t1 is not None
        _inner(w1a, w1b, "hada_w1_a @ hada_w1_b", cp)
        _inner(w2a, w2b, "hada_w2_a @ hada_w2_b", cp)
        if t1 is not None and t2 is not None:
            _core(t1, w1a, w1b, "hada_t1")
            _core(t2, w2a, w2b, "hada_t2")
        layer = cls(target, module, w1a, w1b, w2a, w2b, t1, t2, alpha, source)
        if layer.factor_shape(1) != layer.factor_shape(2):
            raise LayerFormatError(f"its two Hadamard factors differ in shape ({layer.factor_shape(1)} vs {layer.factor_shape(2)})")
        return layer

    def factor_shape(self, i: int) -> tuple[int, ...]:
        a, b, t = (self.w1a, self.w1b, self.t1) if i == 1 else (self.w2a, self.w2b, self.t2)
        if t is None:
            return (int(a.shape[0]), int(b.shape[1]))
        return (int(a.shape[1]), int(b.shape[1]), int(t.shape[2]), int(t.shape[3]))

    @property
    def scale(self) -> float:
        return _scale(self.alpha, int(self.w1b.shape[0]))

    def delta_shape(self) -> tuple[int, ...]:
        return self.factor_shape(1)

    def delta(self, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        """ΔW · alpha/rank, reshaped to ``shape``."""
        scale = torch.tensor(self.scale, dtype=dtype)
        w1a, w1b, w2a, w2b = (_to(t, dtype) for t in (self.w1a, self.w1b, self.w2a, self.w2b))
        if self.t1 is None or self.t2 is None:
            return loha_weight(w1a, w1b, w2a, w2b, scale).reshape(shape)
        return loha_weight_cp(_to(self.t1, dtype), w1a, w1b, _to(self.t2, dtype), w2a, w2b, scale).reshape(shape)


@dataclass
class LokrLayer:
    target: str
    module: str
    w1: torch.Tensor | None  # (a, b) whole
    w1a: torch.Tensor | None  # (a, r) and (r, b) factored
    w1b: torch.Tensor | None
    w2: torch.Tensor | None  # (c, d[, kh, kw]) whole
    w2a: torch.Tensor | None  # (c, r) and (r, d * kh * kw); Tucker: (r, c), (r, d) with t2 (r, r, kh, kw)
    w2b: torch.Tensor | None
    t2: torch.Tensor | None
    alpha: float | None
    source: str = ""

    @classmethod
    def from_parts(cls, target: str, module: str, parts: Mapping[str, torch.Tensor], alpha: float | None, source: str) -> LokrLayer:
        w1, w2, t2 = parts.get("lokr_w1"), parts.get("lokr_w2"), parts.get("lokr_t2")
        w1a = w1b = w2a = w2b = None
        if w1 is None:
            w1a, w1b = _need(parts, "lokr_w1_a", "lokr_w1_b")
            _inner(w1a, w1b, "lokr_w1_a @ lokr_w1_b", cp=False)
        if w2 is None:
            w2a, w2b = _need(parts, "lokr_w2_a", "lokr_w2_b")
            _inner(w2a, w2b, "lokr_w2_a @ lokr_w2_b" + (" (with lokr_t2)" if t2 is not None else ""), cp=t2 is not None)
            if t2 is not None:
                _core(t2, w2a, w2b, "lokr_t2")
        elif t2 is not None:
            raise LayerFormatError("has lokr_t2 with a whole lokr_w2 (lokr_t2 goes with lokr_w2_a/lokr_w2_b)")
        return cls(target, module, w1, w1a, w1b, w2, w2a, w2b, t2, alpha, source)

    @property
    def rank(self) -> int | None:
        if self.w2b is not None:
            return int(self.w2b.shape[0])
        return int(self.w1b.shape[0]) if self.w1b is not None else None

    @property
    def scale(self) -> float:
        return _scale(self.alpha, self.rank)

    def _w1_shape(self) -> tuple[int, ...]:
        if self.w1 is not None:
            return tuple(int(s) for s in self.w1.shape)
        assert self.w1a is not None and self.w1b is not None
        return (int(self.w1a.shape[0]), int(self.w1b.shape[1]))

    def _w2_shape(self) -> tuple[int, ...]:
        if self.w2 is not None:
            return tuple(int(s) for s in self.w2.shape)
        assert self.w2a is not None and self.w2b is not None
        if self.t2 is not None:
            return (int(self.w2a.shape[1]), int(self.w2b.shape[1]), int(self.t2.shape[2]), int(self.t2.shape[3]))
        return (int(self.w2a.shape[0]), int(self.w2b.shape[1]))

    def delta_shape(self) -> tuple[int, ...]:
        """The Kronecker product's shape: (a * c, b * d[, kh, kw])."""
        s1, s2 = self._w1_shape(), self._w2_shape()
        return (s1[0] * s2[0], s1[1] * s2[1], *s2[2:])

    def delta(self, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        """kron(w1, w2) · alpha/rank, reshaped to ``shape``."""
        if self.w1 is not None:
            w1 = _to(self.w1, dtype)
        else:
            assert self.w1a is not None and self.w1b is not None
            w1 = _to(self.w1a, dtype) @ _to(self.w1b, dtype)  # (a, b)
        if self.w2 is not None:
            w2 = _to(self.w2, dtype)
        else:
            assert self.w2a is not None and self.w2b is not None
            w2a, w2b = _to(self.w2a, dtype), _to(self.w2b, dtype)
            w2 = lokr_weight_cp(_to(self.t2, dtype), w2a, w2b) if self.t2 is not None else w2a @ w2b  # (c, d[, kh, kw])
        return make_kron(w1, w2, self.scale).reshape(shape)
