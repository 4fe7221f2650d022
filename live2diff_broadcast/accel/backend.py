"""Choosing the stream's backend from the profile, with a loud fallback to PyTorch.

``apply_backend(stream, engine_section)`` builds the requested runner on the stream's eager
``CausalUNet`` (same attention state, same KV cache) and attaches it with ``stream.accelerate``,
and, when asked, installs onnxruntime sessions for the depth model and TAESD. Anything that stops a backend (a
missing package, no GPU, a failed export or build, out of memory, at start-up or at the first
calls) is logged as an error and recorded in the returned ``BackendReport``
(``active`` / ``fallback_reason``, shown by the translator as ``active_backend`` and
``backend_fallback_reason``); the stream keeps running on eager PyTorch. Never silent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Protocol

import torch

from ..engine.backend_report import BackendReport
from ..engine.causal_unet import CausalUNet, StreamRunner
from ..engine.components import Live2DiffComponents
from ..engine.config import StreamConfig
from ..engine.stream import Live2DiffStream
from .tensorrt_cache import TensorRTCache

logger = logging.getLogger(__name__)

Backend = Literal["auto", "pytorch", "compiled", "onnxruntime", "tensorrt"]
PartBackend = Literal["auto", "pytorch", "onnxruntime"]


class EngineSettings(Protocol):
    """The fields of config.EngineSection this module reads."""

    backend: Backend
    depth_backend: PartBackend
    vae_backend: PartBackend
    engine_dir: str | None
    torch_compile: bool
    cuda_graph: bool
    trt_refit: bool
    onnx_opset: int


def resolve_backend(requested: Backend, device: torch.device) -> str:
    """'auto': the compiled PyTorch path on NVIDIA GPUs, eager PyTorch elsewhere."""
    if requested == "auto":
        return "compiled" if device.type == "cuda" else "pytorch"
    return requested


class FallbackRunner:
    """An accelerated runner that switches to the eager ``CausalUNet`` for good on its first failure.

    Every runner writes the cache only after its graph has run, so a failed call leaves the cache
    as it was and the eager call can redo the same call on the same state and cache.
    """

    def __init__(self, runner: StreamRunner, eager: CausalUNet, report: BackendReport) -> None:
        if runner.state is not eager.state or runner.cache is not eager.cache:
            raise ValueError(f"the {runner.name} runner and its eager fallback must share one state and KV cache")
        self.runner, self.eager, self.report = runner, eager, report
        self.name, self.state, self.cache = runner.name, eager.state, eager.cache
        self.failed = False

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return self.runner(latents, timesteps, text, depth)
            except Exception as exc:  # noqa: BLE001 - any accelerator failure: go on eagerly, loudly
                logger.exception("%s stream call failed", self.runner.name)
                self.failed = True
                self.report.active = "pytorch"
                self.report.fall_back(f"{self.runner.name} failed while streaming", f"{type(exc).__name__}: {exc}")
        return self.eager(latents, timesteps, text, depth)


def _unet_runner(
    backend: str,
    components: Live2DiffComponents,
    eager: CausalUNet,
    size: tuple[int, int],
    device: torch.device,
    settings: EngineSettings,
    cache: TensorRTCache,
) -> StreamRunner:
    """A runner on ``eager``'s graph, attention state and KV cache, for frames of ``size`` (H, W)."""
    state, kv = eager.state, eager.cache
    if backend == "compiled":
        from .compiled import CompiledStreamRunner

        return CompiledStreamRunner(eager.graph, state, kv, use_compile=settings.torch_compile, cuda_graph=settings.cuda_graph)
    from .onnx_targets import ensure_onnx, ensure_tensorrt_plan, stream_unet_target

    # shape-only config: the graph depends on size, step count and window, not on the timestep values
    shape = StreamConfig(height=size[0], width=size[1], t_index_list=tuple(range(kv.num_steps)), causal=state.causal)
    if backend == "onnxruntime":
        from .ort_unet import OrtStreamRunner

        target = stream_unet_target(components, shape, settings.onnx_opset)
        return OrtStreamRunner.from_file(ensure_onnx(target, cache), state, kv, device)
    if backend == "tensorrt":
        from .trt_build import import_tensorrt
        from .trt_runtime import TrtEngine, TrtStreamRunner

        import_tensorrt()  # fail fast, before any export
        target = stream_unet_target(components, shape, settings.onnx_opset, tensorrt=True)
        plan = ensure_tensorrt_plan(target, cache, refittable=settings.trt_refit)
        return TrtStreamRunner(TrtEngine(plan, device), state, kv)
    raise ValueError(f"unknown backend {backend!r}; expected pytorch, compiled, onnxruntime or tensorrt")


def _part_backend(requested: PartBackend, unet_backend: str) -> str:
    if requested == "auto":
        return "onnxruntime" if unet_backend in ("onnxruntime", "tensorrt") else "pytorch"
    return requested


def apply_backend(stream: Live2DiffStream, settings: EngineSettings) -> BackendReport:
    """Install the profile's backends on ``stream``; returns what actually runs."""
    backend = resolve_backend(settings.backend, stream.device)
    report = BackendReport(requested=settings.backend)
    cache = TensorRTCache(Path(settings.engine_dir) if settings.engine_dir else None)
    components, device = stream.components, stream.device

    def make(eager: CausalUNet, size: tuple[int, int]) -> StreamRunner:
        return FallbackRunner(_unet_runner(backend, components, eager, size, device, settings, cache), eager, report)

    def rebuild(eager: CausalUNet, size: tuple[int, int]) -> StreamRunner:
        """For the stream's new state and cache after a step-count change; eager if that fails."""
        try:
            return make(eager, size)
        except Exception as exc:  # noqa: BLE001
            report.active = "pytorch"
            report.fall_back(f"backend {backend!r} unavailable after a stream change", f"{type(exc).__name__}: {exc}")
            return eager

    if backend != "pytorch":
        try:
            runner = make(stream.unet, (stream.config.height, stream.config.width))
        except Exception as exc:  # noqa: BLE001 - missing package, no GPU, export/build failure, OOM
            logger.debug("backend %s failed to start", backend, exc_info=True)
            report.fall_back(f"backend {backend!r} unavailable", f"{type(exc).__name__}: {exc}")
        else:
            stream.accelerate(runner, rebuild)
            report.active = backend
    _apply_parts(stream, settings, backend, cache, report)
    logger.info("engine backends: unet=%s depth=%s vae=%s%s", report.active, report.depth, report.vae,
                f" (requested {report.requested})" if report.fallback_reason else "")
    return report


def _apply_parts(stream: Live2DiffStream, settings: EngineSettings, unet_backend: str, cache: TensorRTCache,
                 report: BackendReport) -> None:
    prefer_trt = unet_backend == "tensorrt"
    depth_backend = _part_backend(settings.depth_backend, unet_backend)
    if depth_backend == "onnxruntime":
        try:
            from .onnx_targets import depth_target, ensure_onnx
            from .ort_components import OrtDepthEstimator

            target = depth_target(stream.components, settings.onnx_opset)
            path = ensure_onnx(target, cache)
            stream.components.depth = OrtDepthEstimator.from_file(path, target.key.height, stream.device, stream.dtype, prefer_trt)
            report.depth = "onnxruntime"
        except Exception as exc:  # noqa: BLE001
            report.fall_back("depth on onnxruntime unavailable", f"{type(exc).__name__}: {exc}")
    vae_backend = _part_backend(settings.vae_backend, unet_backend)
    if vae_backend == "onnxruntime":
        try:
            from .onnx_targets import ensure_onnx, vae_targets
            from .ort_components import OrtLatentCodec

            enc, dec = vae_targets(stream.components, stream.config, settings.onnx_opset)
            stream.codec = OrtLatentCodec.from_files(ensure_onnx(enc, cache), ensure_onnx(dec, cache), stream.device,
                                                     stream.dtype, prefer_trt)  # type: ignore[assignment]
            report.vae = "onnxruntime"
        except Exception as exc:  # noqa: BLE001
            report.fall_back("TAESD on onnxruntime unavailable", f"{type(exc).__name__}: {exc}")
