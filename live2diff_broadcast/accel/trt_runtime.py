"""Running a TensorRT stream engine with the KV cache bound in place.

Every input and output is bound by device address once: the frame inputs to static buffers
(refilled with ``copy_``), the attention tables to ``TemporalAttentionState``'s static buffers,
the cache inputs to the cache tensors themselves, and the new K/V rows to preallocated outputs
that are scattered into the ring after the call. Per frame: four copies, one
``execute_async_v3`` on the current CUDA stream, the ring write. Nothing the size of the cache
is copied and nothing syncs to the host.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..engine.kv_cache import TemporalAttentionState, TemporalKVCache, write_rows
from .errors import BackendUnavailable, EngineBuildError
from .trt_build import import_tensorrt

logger = logging.getLogger(__name__)


class TrtEngine:
    """A deserialized engine and one execution context; tensors bound by name and address."""

    def __init__(self, plan_path: Path, device: torch.device) -> None:
        if device.type != "cuda":
            raise BackendUnavailable(f"TensorRT engines run on CUDA devices, got {device}")
        trt = import_tensorrt()
        self.trt = trt
        self.device = device
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan_path.read_bytes())
        if self.engine is None:
            raise EngineBuildError(f"cannot load TensorRT engine {plan_path} (built by another TensorRT version or GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.engine.get_tensor_shape(name))

    def bind(self, name: str, tensor: torch.Tensor) -> None:
        expected = self.shape(name)
        if tuple(tensor.shape) != expected:
            raise ValueError(f"TensorRT tensor {name}: engine expects shape {expected}, got {tuple(tensor.shape)}")
        if not tensor.is_contiguous() or tensor.device != self.device:
            raise ValueError(f"TensorRT tensor {name} must be contiguous on {self.device}")
        self.context.set_tensor_address(name, tensor.data_ptr())

    def execute(self) -> None:
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise EngineBuildError("TensorRT execute_async_v3 failed (see the TensorRT log)")


class TrtStreamRunner:
    """The stream UNet call on a TensorRT engine built from ``StreamUNetGraph``."""

    name = "tensorrt"

    def __init__(self, engine: TrtEngine, state: TemporalAttentionState, cache: TemporalKVCache) -> None:
        self.engine, self.state, self.cache = engine, state, cache
        self._static: list[torch.Tensor] = []
        self._outputs: list[torch.Tensor] = []
        self._bound_cache: list[int] = []

    def _bind_all(self, inputs: tuple[torch.Tensor, ...]) -> None:
        n = inputs[0].shape[0]
        self._static = [t.clone().contiguous() for t in inputs]
        values = [*self._static, *self.state.tables(n), *self.cache.tensors()]
        if len(values) != len(self.engine.inputs):
            raise ValueError(f"the engine takes {len(self.engine.inputs)} inputs, the stream provides {len(values)}")
        for name, value in zip(self.engine.inputs, values, strict=True):
            self.engine.bind(name, value)
        dtype = inputs[0].dtype
        self._outputs = [torch.empty(self.engine.shape(name), device=self.engine.device, dtype=dtype) for name in self.engine.outputs]
        for name, value in zip(self.engine.outputs, self._outputs, strict=True):
            self.engine.bind(name, value)
        self._bound_cache = [t.data_ptr() for t in self.cache.tensors()]
        logger.info("TensorRT stream engine bound: %d inputs (%d cache tensors in place), %d outputs",
                    len(values), len(self._bound_cache), len(self._outputs))

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        inputs = (latents, timesteps, text, depth)
        if not self._static or [t.data_ptr() for t in self.cache.tensors()] != self._bound_cache:
            self._bind_all(inputs)
        for static, value in zip(self._static, inputs, strict=True):
            static.copy_(value)
        self.engine.execute()
        eps, *new = self._outputs
        n = latents.shape[0]
        write_rows(self.cache.tensors(), new, self.state.row_index[:n], self.state.write_slot[:n])
        return eps.clone()

