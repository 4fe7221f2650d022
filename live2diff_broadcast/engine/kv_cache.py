"""The multi-timestep temporal KV cache, its ring bookkeeping, and the per-call row tables.

One cache per (temporal attention layer, denoising step). Each layer owns two preallocated
tensors of shape (n_steps, HW, heads, window + 1, head_dim), updated in place:

* slots 0..warmup-1 hold the sink (warmup) frames, written once per step by the warmup pass;
* slots warmup..window-1 are a ring holding the most recent ``window - warmup`` frames;
* slot ``window`` is a scratch slot: pipeline-fill rows (batch rows with no frame yet) write
  there, so they never touch a real slot, and no attention ever reads it.

K/V are cached *without* positional encoding: a frame's position changes as the window rolls,
so the positional terms are added at read time (see ``attention.py``). Shapes never change after
allocation; memory stays constant however long the stream runs.

Nothing here runs attention. The attention layers only *read* the cache (handed to them for one
call by ``AttentionCall``) and hand back each row's new K/V; ``write_rows`` / ``write_sinks``
put those into their slots afterwards, in place. ``TemporalAttentionState`` says, per call,
which slot each row writes and what it sees, as static device tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from .config import CausalWindow

Mode = Literal["warmup", "stream"]


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
        """(K, V), each (n_steps, HW, heads, window + 1, head_dim)."""
        if self.k is None or self.v is None:
            raise RuntimeError("KV cache read before the warmup pass allocated it: run warmup first")
        return self.k, self.v

    @property
    def nbytes(self) -> int:
        if self.k is None or self.v is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()


class TemporalKVCache:
    """Every temporal attention layer's cache, in ``temporal_attentions`` order."""

    def __init__(self, num_layers: int, num_steps: int, causal: CausalWindow) -> None:
        self.causal = causal
        self.num_steps = num_steps
        self.layers = [LayerKVCache(num_steps, causal) for _ in range(num_layers)]

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    def tensors(self) -> list[torch.Tensor]:
        """Every layer's K then V, (n_steps, HW, heads, W + 1, d) each: the graph's cache inputs."""
        return [t for layer in self.layers for t in layer.tensors()]

    def step_views(self, step_start: int, rows: int) -> list[torch.Tensor]:
        """Like ``tensors`` for steps ``step_start .. step_start + rows - 1`` only (views, no copy):
        row r of a call reads and writes the cache of step ``step_start + r``."""
        if step_start == 0 and rows == self.num_steps:
            return self.tensors()
        return [t[step_start : step_start + rows] for t in self.tensors()]

    def write_sinks(self, step: int, new_kv: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store the warmup frames' K/V, per layer (HW, heads, warmup, d) each, as step ``step``'s
        sinks (slots 0..warmup-1). Allocates the cache on the first warmup."""
        if len(new_kv) != len(self.layers):
            raise ValueError(f"expected K/V of {len(self.layers)} layers, got {len(new_kv)}")
        w = self.causal.warmup
        for layer, (k, v) in zip(self.layers, new_kv, strict=True):
            hw, heads, frames, head_dim = k.shape
            if frames != w:
                raise ValueError(f"warmup K/V must cover exactly {w} frames, got {frames}")
            layer.ensure(hw, heads, head_dim, k.dtype, k.device)
            kc, vc = layer.tensors()
            kc[step, :, :, :w] = k
            vc[step, :, :, :w] = v

    def zero_(self) -> None:
        """Forget every cached frame (storage kept, so later writes land in the same memory)."""
        for layer in self.layers:
            if layer.k is not None and layer.v is not None:
                layer.k.zero_()
                layer.v.zero_()


def write_rows(
    caches: Sequence[torch.Tensor], new_rows: Sequence[torch.Tensor], rows: torch.Tensor, write_slot: torch.Tensor
) -> None:
    """Scatter each cache tensor's new rows (B, HW, heads, d) into slot ``write_slot[r]`` of step
    ``rows[r]``, in place. ``caches``: (B, HW, heads, W + 1, d) each (the tensors, or step views
    of them), in the same order as ``new_rows``; ``rows``/``write_slot``: (B,) long, static
    buffers (no allocation). Fill rows write the scratch slot ``W``."""
    for cache, new in zip(caches, new_rows, strict=True):
        cache[rows, :, :, write_slot] = new  # index_put_: (B, HW, heads, d), tiny next to the cache


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


class TemporalAttentionState:
    """What the next UNet call is: warmup at one step, or B stream rows and what each row sees.

    Set by whoever makes the call (``set_warmup`` / ``set_stream``) and handed to it explicitly:
    the stream-call graph takes ``tables(B)`` as inputs, and ``write_rows`` takes ``row_index`` and
    ``write_slot``. The per-row tables live in static device buffers updated in place (a CUDA
    graph or a bound TensorRT/onnxruntime input reads them by address); their contents come from
    device tables built once per distinct row layout (no GPU->CPU sync and, in steady state, no
    host->device copy). ``mode``, ``step_start``, ``rows`` and ``row_frames`` are the host-side
    description (the reference processor and the eager call read them).
    """

    def __init__(self, causal: CausalWindow, max_rows: int, device: torch.device, dtype: torch.dtype) -> None:
        self.causal = causal
        self.max_rows = max_rows
        self.mode: Mode = "warmup"
        self.step_start = 0
        self.rows = 1
        self.row_frames: list[int | None] = []  # local frame index per row (None: pipeline fill)
        w = causal.window
        self.row_index = torch.arange(max_rows, device=device)  # (max_rows,) 0..max_rows-1
        self.write_slot = torch.zeros(max_rows, dtype=torch.long, device=device)  # (max_rows,)
        self.key_positions = torch.zeros(max_rows, w, dtype=torch.long, device=device)  # (max_rows, W)
        self.query_position = torch.zeros(max_rows, dtype=torch.long, device=device)  # (max_rows,)
        self.key_bias = torch.zeros(max_rows, w, dtype=dtype, device=device)  # (max_rows, W): 0 visible, -inf hidden
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

    def tables(self, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stream graph's per-call inputs for the first ``rows`` rows, views of the static
        buffers (no copy): key_positions (B, W) long, key_bias (B, W), query_position (B,) long,
        write_slot (B,) long."""
        return self.key_positions[:rows], self.key_bias[:rows], self.query_position[:rows], self.write_slot[:rows]

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
