"""The multi-timestep temporal KV cache and its ring bookkeeping.

One cache per (temporal attention layer, denoising step). Each layer owns two preallocated
tensors of shape (n_steps, HW, heads, window + 1, head_dim), updated in place:

* slots 0..warmup-1 hold the sink (warmup) frames, written once by the warmup pass;
* slots warmup..window-1 are a ring holding the most recent ``window - warmup`` frames;
* slot ``window`` is a scratch slot: pipeline-fill rows (batch rows with no frame yet) write
  there, so they never touch a real slot, and no attention ever reads it.

K/V are cached *without* positional encoding: a frame's position changes as the window rolls,
so the positional terms are added at read time (see ``attention.py``). Shapes never change after
allocation; memory stays constant however long the stream runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import CausalWindow


class LayerKVCache:
    """K/V of one temporal attention layer, one slot table per denoising step."""

    def __init__(self, num_steps: int, causal: CausalWindow) -> None:
        self.num_steps = num_steps
        self.causal = causal
        self.k: torch.Tensor | None = None  # (n_steps, HW, heads, window + 1, head_dim)
        self.v: torch.Tensor | None = None

    def ensure(self, hw: int, heads: int, head_dim: int, dtype: torch.dtype, device: torch.device) -> None:
        """Allocate once; reallocate only if the layer's shape, dtype or device changed."""
        shape = (self.num_steps, hw, heads, self.causal.window + 1, head_dim)
        if self.k is not None and self.k.shape == shape and self.k.dtype == dtype and self.k.device == device:
            return
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is None or self.v is None:
            raise RuntimeError("KV cache read before the warmup pass allocated it: run warmup first")
        return self.k, self.v

    @property
    def nbytes(self) -> int:
        if self.k is None or self.v is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()


class TemporalKVCache:
    """Every temporal attention layer's cache, in processor install order."""

    def __init__(self, num_layers: int, num_steps: int, causal: CausalWindow) -> None:
        self.causal = causal
        self.num_steps = num_steps
        self.layers = [LayerKVCache(num_steps, causal) for _ in range(num_layers)]

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    def zero_(self) -> None:
        """Forget every cached frame (storage kept, so later writes land in the same memory)."""
        for layer in self.layers:
            if layer.k is not None and layer.v is not None:
                layer.k.zero_()
                layer.v.zero_()


@dataclass(frozen=True)
class RowPlan:
    """Where one batch row's frame goes and what it sees.

    ``write_slot``: slot its K/V are written to (``window`` = scratch for fill rows).
    ``key_positions[j]``: positional index of the frame in slot j (0 where invalid).
    ``key_valid[j]``: whether slot j holds a frame this row may attend to.
    ``query_position``: the row's own position.
    """

    write_slot: int
    key_positions: tuple[int, ...]
    key_valid: tuple[bool, ...]
    query_position: int


def ring_slot(frame: int, causal: CausalWindow) -> int:
    """Cache slot of a streamed (non-sink) frame index."""
    if frame < causal.warmup:
        raise ValueError(f"frame {frame} is a sink frame (warmup={causal.warmup}); it has no ring slot")
    return causal.warmup + (frame - causal.warmup) % causal.rolling


def plan_row(frame: int | None, causal: CausalWindow) -> RowPlan:
    """Plan for a stream row processing ``frame`` (None: a pipeline-fill row that must not write)."""
    w, window = causal.warmup, causal.window
    positions = [0] * window
    valid = [False] * window
    for s in range(w):  # sinks: always visible, fixed positions 0..w-1
        positions[s], valid[s] = s, True
    if frame is None:
        return RowPlan(window, tuple(positions), tuple(valid), 0)
    if frame < w:
        raise ValueError(f"frame {frame} belongs to warmup (warmup={w}); stream rows start at frame {w}")
    first = max(w, frame - causal.rolling + 1)  # oldest rolling frame still in the window
    for g in range(first, frame + 1):
        slot = ring_slot(g, causal)
        positions[slot], valid[slot] = w + (g - first), True
    return RowPlan(ring_slot(frame, causal), tuple(positions), tuple(valid), w + (frame - first))
