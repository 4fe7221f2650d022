"""``build-engines``: prebuild a show's ONNX graphs and TensorRT engines before going live.

One UNet graph per distinct step count among the profile's styles, plus TAESD encoder/decoder
and the depth model. Everything lands in the TensorRT/ONNX cache (``engine.engine_dir``), keyed by
what changes a graph or plan, so the show starts without a build. ``--backend onnxruntime`` exports the ONNX
graphs only (works without a GPU).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..config import ProfileError, load_profile

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-engines",
        help="prebuild the ONNX graphs and TensorRT engines a show profile needs (cached, keyed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", type=Path, default=None, help="show profile TOML (default: built-in settings)")
    p.add_argument("--backend", choices=["tensorrt", "onnxruntime"], default="tensorrt",
                   help="tensorrt: ONNX + engines (NVIDIA GPU + TensorRT); onnxruntime: ONNX graphs only")
    p.add_argument("--engine-dir", type=Path, default=None, help="override engine.engine_dir")
    p.add_argument("--force", action="store_true", help="rebuild even when a cached engine matches")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..accel.errors import BackendUnavailable, EngineBuildError
    from ..accel.onnx_targets import (
        depth_target,
        ensure_onnx,
        ensure_tensorrt_plan,
        stream_unet_target,
        vae_targets,
    )
    from ..accel.tensorrt_cache import TensorRTCache
    from ..assembly import build_components, resolve_device
    from ..weights.errors import WeightsError

    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        logger.error("%s", exc)
        return 2
    tensorrt = args.backend == "tensorrt"
    try:
        if tensorrt:
            from ..accel.trt_build import import_tensorrt

            import_tensorrt()
        device, dtype = resolve_device(profile.engine.device, profile.engine.dtype)
        if tensorrt and device.type != "cuda":
            raise BackendUnavailable(f"TensorRT engines are built on an NVIDIA GPU; the profile's device is {device}")
        components = build_components(profile).to(device, dtype)
    except (BackendUnavailable, WeightsError) as exc:
        logger.error("%s", exc)
        return 2
    cache = TensorRTCache(args.engine_dir or (Path(profile.engine.engine_dir) if profile.engine.engine_dir else None))
    opset = profile.engine.onnx_opset
    configs = {len(s.t_index_list or profile.engine.t_index_list): profile.stream_config(s) for s in profile.styles}
    targets = [stream_unet_target(components, config, opset, tensorrt) for _, config in sorted(configs.items())]
    first = next(iter(configs.values()))
    targets += [*vae_targets(components, first, opset, tensorrt), depth_target(components, opset, tensorrt)]
    print(f"{len(targets)} graphs for profile {profile.name!r} -> {cache.root}")
    failed = 0
    for i, target in enumerate(targets, 1):
        key = target.key
        start = time.monotonic()
        print(f"[{i}/{len(targets)}] {key.kind} {key.height}x{key.width} batch {key.batch} {key.precision}", flush=True)
        try:
            path = ensure_tensorrt_plan(target, cache, profile.engine.trt_refit, args.force) if tensorrt else ensure_onnx(target, cache)
        except (EngineBuildError, BackendUnavailable, OSError, RuntimeError) as exc:
            logger.error("%s: %s", key.kind, exc)
            failed += 1
            continue
        print(f"    ready in {time.monotonic() - start:.1f} s: {path}")
    if failed:
        logger.error("%d of %d graphs failed; the show would fall back to PyTorch for them", failed, len(targets))
        return 1
    return 0
