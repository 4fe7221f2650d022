"""What identifies a TensorRT plan (and the ONNX graph it is built from): everything that changes
it, and nothing else.

A TensorRT engine (plan) is a function of the graph (architecture, static shapes, precision, the
exporter that wrote it), of the weights baked into it, and of the TensorRT version and GPU it was
built for. The prompt, seed, t_index values (timesteps are inputs), style name or file paths do
not change an engine and are not in the key, so switching between styles that share weights
reuses the engine.

``structure_digest`` leaves the weights out: two engines with equal structure digests differ
only in weights, so a refittable one can be refitted instead of rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from .errors import BackendUnavailable

# Bump when StreamUNetGraph's inputs, outputs or math change: old engines must not be reused.
GRAPH_FORMAT_VERSION = 1
PRECISIONS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


@dataclass(frozen=True)
class TensorRTKey:
    kind: str  # "unet_stream" | "taesd_encoder" | "taesd_decoder" | "depth"
    weights: str  # weights_digest of the module as built (fused LoRAs included)
    height: int  # graph input size in pixels (depth: its square input size)
    width: int
    batch: int  # rows per call (unet: denoising steps n)
    window: int  # 0 where irrelevant (VAE, depth)
    warmup: int
    text_len: int
    precision: str  # fp32 | fp16 | bf16
    opset: int
    exporter: str  # torch version + exporter + graph format
    tensorrt: str  # TensorRT version; "-" for an ONNX file (not GPU/TRT specific)
    gpu: str  # GPU name; "-" for ONNX
    compute_capability: str  # "8.9"; "-" for ONNX

    def digest(self) -> str:
        return _hash(asdict(self))

    def structure_digest(self) -> str:
        return _hash({k: v for k, v in asdict(self).items() if k != "weights"})

    def for_onnx(self) -> TensorRTKey:
        """The key of the ONNX graph the engine is built from: no TensorRT version or GPU."""
        return replace(self, tensorrt="-", gpu="-", compute_capability="-")

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.height}x{self.width}-b{self.batch}-{self.precision}-{self.digest()[:16]}"


def _hash(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def weights_digest(module: nn.Module) -> str:
    """blake2b over every parameter and persistent buffer: name, dtype, shape and bytes.

    Computed on the module as it will be exported, so fused LoRAs and style checkpoints are in it.
    Full SD1.5 in fp16 (~1.7 GB) hashes in a few seconds; done once per build/lookup, not per frame.
    """
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        data = t.contiguous().cpu()
        if data.dtype == torch.bfloat16:
            data = data.view(torch.int16)
        h.update(data.numpy().tobytes())
    return h.hexdigest()


def exporter_id(opset: int) -> str:
    return f"torch-{torch.__version__.split('+')[0]}-torchscript-opset{opset}-graph{GRAPH_FORMAT_VERSION}"


def tensorrt_version() -> str:
    """The installed TensorRT's version (imports tensorrt: raises BackendUnavailable if missing)."""
    from .trt_build import import_tensorrt

    return str(import_tensorrt().__version__)


def gpu_identity(device: torch.device) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of a CUDA device."""
    if device.type != "cuda" or not torch.cuda.is_available():
        raise BackendUnavailable(f"TensorRT engines need a CUDA GPU; the engine device is {device}")
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), f"{major}.{minor}"


def precision_of(dtype: torch.dtype) -> str:
    if dtype not in PRECISIONS:
        raise ValueError(f"no engine precision for dtype {dtype}; expected one of {list(PRECISIONS)}")
    return PRECISIONS[dtype]
