"""onnxruntime sessions: provider choice and zero-copy binding of torch tensors.

Providers: TensorRT EP, then CUDA EP, when the tensors live on a CUDA device and the installed
onnxruntime offers them; the CPU EP otherwise. Inputs and outputs are bound by data pointer
(``io_binding``), so neither the KV cache nor any output is copied by the runtime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from .errors import BackendUnavailable

logger = logging.getLogger(__name__)

_NUMPY_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.int64: "int64", torch.int32: "int32", torch.bool: "bool"}


def import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(
            "onnxruntime is not installed: pip install 'live2diff-broadcast[onnx]' (CPU) or '[onnx-gpu]' (CUDA)"
        ) from exc
    return onnxruntime


def choose_providers(device: torch.device, prefer_tensorrt: bool = False) -> list[str]:
    """Best available execution providers for tensors on ``device``, best first."""
    ort = import_ort()
    available = set(ort.get_available_providers())
    chosen: list[str] = []
    if device.type == "cuda" and torch.cuda.is_available():
        if prefer_tensorrt and "TensorrtExecutionProvider" in available:
            chosen.append("TensorrtExecutionProvider")
        if "CUDAExecutionProvider" in available:
            chosen.append("CUDAExecutionProvider")
        if not chosen:
            logger.warning(
                "onnxruntime has no CUDA provider (CPU build installed): ONNX models run on the CPU; "
                "install onnxruntime-gpu for GPU inference"
            )
    chosen.append("CPUExecutionProvider")
    return chosen


def make_session(path: Path, device: torch.device, prefer_tensorrt: bool = False) -> Any:
    ort = import_ort()
    if not Path(path).is_file():
        raise FileNotFoundError(f"ONNX model {path} does not exist: export it first (build-engines)")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.intra_op_num_threads = torch.get_num_threads()  # same budget as torch, no oversubscription
    providers = choose_providers(device, prefer_tensorrt)
    provider_options: list[dict[str, Any]] = []
    for p in providers:
        if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            provider_options.append({"device_id": device.index or 0})
        else:
            provider_options.append({})
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers, provider_options=provider_options)
    logger.info("onnxruntime session %s on %s", Path(path).name, session.get_providers()[0])
    return session


def bind(binding: Any, name: str, tensor: torch.Tensor, output: bool = False) -> None:
    """Bind a contiguous torch tensor to an input or output by pointer (no copy)."""
    if tensor.dtype not in _NUMPY_DTYPES:
        raise BackendUnavailable(f"onnxruntime cannot bind {name} of dtype {tensor.dtype}; expected one of {list(_NUMPY_DTYPES)}")
    if not tensor.is_contiguous():
        raise ValueError(f"{name}: onnxruntime binding needs a contiguous tensor (got strides {tensor.stride()})")
    import numpy as np

    device = "cuda" if tensor.device.type == "cuda" else "cpu"
    args = (name, device, tensor.device.index or 0, np.dtype(_NUMPY_DTYPES[tensor.dtype]), list(tensor.shape), tensor.data_ptr())
    if output:
        binding.bind_output(*args)
    else:
        binding.bind_input(*args)
