"""The ONNX graphs of one stream (stream UNet, TAESD, depth) and the TensorRT plans built from
them: keys, export, and find in the cache / refit / build.

Shared by the runtime backend selection (``backend.py``) and ``build-engines``
(``commands/build_tensorrt.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engine.components import Live2DiffComponents
from ..engine.config import StreamConfig
from ..engine.depth import DPTDepthEstimator
from ..engine.unet import Live2DiffUNet
from .errors import BackendUnavailable, EngineBuildError
from .onnx_export import (
    DEFAULT_OPSET,
    StreamGraphSpec,
    export_depth,
    export_stream_unet,
    export_taesd_decoder,
    export_taesd_encoder,
)
from .tensorrt_cache import TensorRTCache
from .tensorrt_key import (
    TensorRTKey,
    exporter_id,
    gpu_identity,
    precision_of,
    tensorrt_version,
    weights_digest,
)
from .trt_build import FIRST_BUILD_GUESS_S, build_engine, refit_engine

logger = logging.getLogger(__name__)

Exporter = Callable[[Path], Path]


@dataclass(frozen=True)
class Target:
    """One graph to make: its key and how to export its ONNX."""

    key: TensorRTKey  # for an ONNX-only target, its ``for_onnx()`` part is what counts
    export: Exporter


def _stream_unet(components: Live2DiffComponents) -> Live2DiffUNet:
    unet = components.unet
    if not isinstance(unet, Live2DiffUNet):
        raise TypeError(f"expected the components' UNet to be a Live2DiffUNet, got {type(unet).__name__}")
    return unet


def text_shape(components: Live2DiffComponents) -> tuple[int, int]:
    """(L, D) of the text embeddings the UNet receives."""
    return int(components.tokenizer.model_max_length), int(components.text_encoder.config.hidden_size)


def _identity(device: torch.device, tensorrt: bool) -> tuple[str, str, str]:
    if not tensorrt:
        return "-", "-", "-"
    gpu, cc = gpu_identity(device)
    return tensorrt_version(), gpu, cc


def stream_unet_target(components: Live2DiffComponents, config: StreamConfig, opset: int = DEFAULT_OPSET,
                       tensorrt: bool = False) -> Target:
    unet = _stream_unet(components)
    param = next(unet.parameters())
    text_len, text_dim = text_shape(components)
    trt_version, gpu, cc = _identity(param.device, tensorrt)
    key = TensorRTKey(
        kind="unet_stream", weights=weights_digest(unet), height=config.height, width=config.width,
        batch=config.num_steps, window=config.causal.window, warmup=config.causal.warmup, text_len=text_len,
        precision=precision_of(param.dtype), opset=opset, exporter=exporter_id(opset),
        tensorrt=trt_version, gpu=gpu, compute_capability=cc,
    )
    spec = StreamGraphSpec(config.height, config.width, config.num_steps, config.causal, text_len, text_dim)
    return Target(key, lambda path: export_stream_unet(unet, spec, path, opset))


def vae_targets(components: Live2DiffComponents, config: StreamConfig, opset: int = DEFAULT_OPSET,
                tensorrt: bool = False) -> tuple[Target, Target]:
    vae = components.vae
    param = next(vae.parameters())
    trt_version, gpu, cc = _identity(param.device, tensorrt)
    digest = weights_digest(vae)

    def key(kind: str) -> TensorRTKey:
        return TensorRTKey(kind=kind, weights=digest, height=config.height, width=config.width, batch=1, window=0,
                         warmup=0, text_len=0, precision=precision_of(param.dtype), opset=opset,
                         exporter=exporter_id(opset), tensorrt=trt_version, gpu=gpu, compute_capability=cc)

    h, w = config.height, config.width
    return (Target(key("taesd_encoder"), lambda path: export_taesd_encoder(vae, h, w, path, opset=opset)),
            Target(key("taesd_decoder"), lambda path: export_taesd_decoder(vae, h, w, path, opset=opset)))


def depth_target(components: Live2DiffComponents, opset: int = DEFAULT_OPSET, tensorrt: bool = False) -> Target:
    depth = components.depth
    if not isinstance(depth, DPTDepthEstimator):
        raise BackendUnavailable(f"only the DPT depth model can be exported, got {type(depth).__name__}")
    param = next(depth.model.parameters())
    trt_version, gpu, cc = _identity(param.device, tensorrt)
    size = depth.input_size
    key = TensorRTKey(kind="depth", weights=weights_digest(depth.model), height=size, width=size, batch=1, window=0,
                    warmup=0, text_len=0, precision=precision_of(param.dtype), opset=opset,
                    exporter=exporter_id(opset), tensorrt=trt_version, gpu=gpu, compute_capability=cc)
    return Target(key, lambda path: export_depth(depth.model, size, path, opset=opset))


def ensure_onnx(target: Target, cache: TensorRTCache) -> Path:
    """The target's ONNX graph, exported once and reused while its key matches."""
    path = cache.onnx_path(target.key)
    if path.is_file():
        logger.info("ONNX graph cached: %s", path)
        return path
    tmp_dir = path.parent.with_name(path.parent.name + ".partial")
    if tmp_dir.exists():
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
    target.export(tmp_dir / path.name)
    if path.parent.exists():
        for old in path.parent.iterdir():
            old.unlink()
        path.parent.rmdir()
    tmp_dir.replace(path.parent)  # atomic: no half-written graph under the real name
    return path


def ensure_tensorrt_plan(target: Target, cache: TensorRTCache, refittable: bool = True, force: bool = False) -> Path:
    """A TensorRT plan for ``target``: cached, else refitted from a same-structure plan, else built."""
    key = target.key
    plan = cache.plan_path(key)
    if not force and cache.lookup(key) is not None:
        logger.info("TensorRT engine cached: %s", plan)
        return plan
    onnx = ensure_onnx(target, cache)
    candidate = None if force or not refittable else cache.refit_candidate(key)
    if candidate is not None:
        try:
            seconds = refit_engine(candidate, onnx, plan, label=key.kind)
            cache.record(key, plan, refittable=True, build_seconds=seconds)
            return plan
        except EngineBuildError as exc:
            logger.warning("refit of %s failed, building instead: %s", candidate.name, exc)
    estimate = cache.last_build_seconds(key.kind, key.gpu) or FIRST_BUILD_GUESS_S.get(key.kind)
    seconds = build_engine(onnx, plan, key.precision, refittable=refittable, estimate_s=estimate, label=key.kind)
    cache.record(key, plan, refittable=refittable, build_seconds=seconds)
    return plan
