"""The stream UNet call on onnxruntime, with the KV cache bound in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..engine.kv_cache import TemporalAttentionState, TemporalKVCache, write_rows
from ..engine.stream_graph import FRAME_INPUTS, STATE_INPUTS
from .ort_session import bind, make_session


class OrtStreamRunner:
    """Runs an exported ``StreamUNetGraph``; cache tensors are bound by pointer, never copied.

    Outputs (eps and the new K/V rows) land in buffers preallocated on the first call; the new
    rows are then scattered into the ring slots in place.
    """

    name = "onnxruntime"

    def __init__(self, session: Any, state: TemporalAttentionState, cache: TemporalKVCache) -> None:
        self.session, self.state, self.cache = session, state, cache
        self.inputs = [i.name for i in session.get_inputs()]
        self.outputs = [o.name for o in session.get_outputs()]
        self._out_shapes = [tuple(o.shape) for o in session.get_outputs()]
        self._out: list[torch.Tensor] = []

    @classmethod
    def from_file(cls, path: Path, state: TemporalAttentionState, cache: TemporalKVCache, device: torch.device,
                  prefer_tensorrt: bool = False) -> OrtStreamRunner:
        return cls(make_session(path, device, prefer_tensorrt), state, cache)

    def _outputs(self, like: torch.Tensor) -> list[torch.Tensor]:
        if not self._out or self._out[0].device != like.device or self._out[0].dtype != like.dtype:
            for shape in self._out_shapes:
                if not all(isinstance(s, int) for s in shape):
                    raise ValueError(f"stream graph outputs must have static shapes, got {shape}")
            self._out = [torch.empty(shape, device=like.device, dtype=like.dtype) for shape in self._out_shapes]
        return self._out

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        n = latents.shape[0]
        caches = self.cache.tensors()
        values = [latents, timesteps, text, depth, *self.state.tables(n), *caches]
        if len(values) != len(self.inputs):
            raise ValueError(f"the ONNX stream graph takes {len(self.inputs)} inputs, the stream has {len(values)} "
                             f"(a graph exported for another model or window?)")
        # contiguous copies of the small per-call inputs must outlive the run: bound by pointer
        small = len(FRAME_INPUTS) + len(STATE_INPUTS)
        values[:small] = [v.contiguous() for v in values[:small]]
        binding = self.session.io_binding()
        for name, value in zip(self.inputs, values, strict=True):
            bind(binding, name, value)
        outputs = self._outputs(latents)
        for name, buffer in zip(self.outputs, outputs, strict=True):
            bind(binding, name, buffer, output=True)
        binding.synchronize_inputs()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        eps, *new = outputs
        write_rows(caches, new, self.state.row_index[:n], self.state.write_slot[:n])
        return eps.clone()
