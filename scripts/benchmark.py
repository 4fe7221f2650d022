#!/usr/bin/env python
"""Streaming speed of Live2Diff per backend, step count and resolution, with the no-KV-cache baseline.

    python scripts/benchmark.py                                   # CPU: 'small' preset, 128x128, 2 steps, eager + onnxruntime
    python scripts/benchmark.py --preset sd15 --device cuda --backend all --steps 1,2,3,4 --size 512x512,768x512

Models are built from configs with RANDOM weights (no download): the numbers measure compute,
not quality. For each (backend, size, steps): frames per second, per-frame latency p50/p95,
per-stage milliseconds (depth, encode, unet, decode), peak GPU memory, the KV cache's allocated
size next to its analytic size (2 x n x sum over layers of HW*C x bytes, x window slots, and
with the scratch slot), UNet FLOPs per frame and the achieved TFLOP/s against a measured matmul
peak. ``--baseline`` adds the no-cache stream (re-runs the UNet over the whole window every frame,
paper Table 3). Sizes are WIDTHxHEIGHT. Writes a JSON record with --json.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live2diff_broadcast.accel.backend import apply_backend  # noqa: E402
from live2diff_broadcast.accel.geometry import analytic_kv_bytes, layer_geometry  # noqa: E402
from live2diff_broadcast.assembly import resolve_device  # noqa: E402
from live2diff_broadcast.engine.components import (  # noqa: E402
    Live2DiffComponents,
    sd15_random_components,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.engine.config import StreamConfig  # noqa: E402
from live2diff_broadcast.engine.recompute import recompute_stream  # noqa: E402
from live2diff_broadcast.engine.stream import Live2DiffStream  # noqa: E402

PRESETS = {"tiny": tiny_components, "small": small_random_components, "sd15": sd15_random_components}
T_INDEX = {1: (35,), 2: (30, 40), 3: (30, 36, 42), 4: (25, 34, 43, 47)}
BACKENDS = ("eager", "compiled", "onnxruntime", "tensorrt")
STAGES = ("depth", "encode", "unet", "decode")


@dataclass
class Settings:
    """What apply_backend reads from a profile's engine section."""

    backend: str
    depth_backend: str = "auto"
    vae_backend: str = "auto"
    engine_dir: str | None = None
    torch_compile: bool = True
    cuda_graph: bool = True
    trt_refit: bool = True
    onnx_opset: int = 17


def available_backends(device: torch.device) -> list[str]:
    found = ["eager"]
    if device.type == "cuda":
        found.append("compiled")  # on CPU, inductor compile takes minutes and is not the product path
    try:
        import onnxruntime  # noqa: F401

        found.append("onnxruntime")
    except ImportError:
        pass
    if device.type == "cuda":
        try:
            import tensorrt  # noqa: F401

            found.append("tensorrt")
        except ImportError:
            pass
    return found


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """Best of a few square matmuls: the practical peak the UNet's TFLOP/s is compared with."""
    size = 8192 if device.type == "cuda" else 1024
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e12


def unet_flops(stream: Live2DiffStream) -> int:
    """FLOPs of one pipelined stream UNet call (the eager stream graph, random inputs; it reads the
    cache and writes nothing)."""
    n, cfg = stream.config.num_steps, stream.config
    x = torch.randn(n, 4, 1, cfg.height // 8, cfg.width // 8, device=stream.device, dtype=stream.dtype)
    depth = torch.randn(n, 4, cfg.height // 8, cfg.width // 8, device=stream.device, dtype=stream.dtype)
    assert stream.text_embeds is not None
    stream.state.set_stream(0, [cfg.causal.window + r for r in range(n)])
    counter = FlopCounterMode(display=False)
    with counter:
        stream.unet.graph(x, stream.schedule.timesteps, stream.text_embeds.expand(n, -1, -1), depth,
                          *stream.state.tables(n), *stream.cache.tensors())
    return int(counter.get_total_flops())


def measure(stream: Live2DiffStream, frames: int, width: int, height: int, device: torch.device) -> dict:
    """Warm up (sinks + pipeline + any compile/capture), then time ``frames`` streamed frames: once
    plain for FPS and latency, once with device-synchronised per-stage timing."""
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, height, width, generator=g) for _ in range(8)]
    for i in range(stream.config.causal.warmup + stream.config.num_steps + 2):
        stream.push(images[i % 8])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    latencies = []
    sync(device)
    start = time.perf_counter()
    for i in range(frames):
        t0 = time.perf_counter()
        stream.push(images[i % 8])
        sync(device)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    stream.timer.enabled = True
    stream.timer.reset()
    for i in range(frames):
        stream.push(images[i % 8])
    stages = stream.timer.mean_ms(frames)
    stream.timer.enabled = False
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [latencies[0]] * 19
    return {
        "fps": frames / elapsed,
        "latency_ms_p50": 1000 * statistics.median(latencies),
        "latency_ms_p95": 1000 * q[18],
        "stage_ms": stages,
        "peak_gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "kv_cache_bytes": stream.cache.nbytes,
    }


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--size expects WIDTHxHEIGHT[,WIDTHxHEIGHT...], got {item!r}") from None
        sizes.append((w, h))
    return sizes


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--backend", default=None, help=f"one of {', '.join(BACKENDS)}, a comma list, or 'all' "
                        "(those available; default: all on CUDA, eager,onnxruntime on CPU)")
    parser.add_argument("--steps", default=None, help="comma list of step counts from 1,2,3,4 (default: 1,2,3,4 on CUDA, 2 on CPU)")
    parser.add_argument("--size", default=None, help="comma list of WIDTHxHEIGHT, e.g. 512x512,768x512 "
                        "(default: 512x512,768x512 on CUDA, 128x128 on CPU)")
    parser.add_argument("--frames", type=int, default=12, help="streamed frames timed per measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"])
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the no-KV-cache baseline (eager), per size and step count")
    parser.add_argument("--engine-dir", type=Path, default=None, help="ONNX/TensorRT cache (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch/onnxruntime intra-op threads (1 avoids OpenMP spin stalls on busy shared cores)")
    parser.add_argument("--json", type=Path, default=None, help="write the record here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device, dtype = resolve_device(args.device, args.dtype)
    available = available_backends(device)
    wanted = available if args.backend in (None, "all") else args.backend.split(",")
    for b in wanted:
        if b not in BACKENDS:
            raise SystemExit(f"unknown backend {b!r}; expected one of {BACKENDS} or 'all'")
    skipped = [b for b in wanted if b not in available]
    backends = [b for b in wanted if b in available]
    on_gpu = device.type == "cuda"
    steps = [int(s) for s in (args.steps or ("1,2,3,4" if on_gpu else "2")).split(",")]
    if any(s not in T_INDEX for s in steps):
        raise SystemExit(f"--steps entries must be among {sorted(T_INDEX)}, got {args.steps}")
    sizes = parse_sizes(args.size or ("512x512,768x512" if on_gpu else "128x128"))
    engine_dir = args.engine_dir or Path(tempfile.mkdtemp(prefix="live2diff-bench-"))

    peak = matmul_peak_tflops(device, dtype)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"preset={args.preset} device={device} ({device_name}) dtype={dtype} torch={torch.__version__} "
          f"threads={torch.get_num_threads()}  (random weights: speed only)")
    print(f"matmul peak: {peak:.3f} TFLOP/s   backends: {', '.join(backends)}"
          + (f"   unavailable here: {', '.join(skipped)}" if skipped else ""))
    master = PRESETS[args.preset]().to(device, dtype)

    rows = []
    for width, height in sizes:
        for n in steps:
            config = StreamConfig(height=height, width=width, t_index_list=T_INDEX[n])
            flops: int | None = None
            kinds = [*backends, *(["no-cache"] if args.baseline else [])]
            for kind in kinds:
                components: Live2DiffComponents = copy.deepcopy(master)
                if kind == "no-cache":
                    stream: Live2DiffStream = recompute_stream(components, config, device, dtype)
                    stream.set_prompt("benchmark")
                    active, reason = "eager", None
                else:
                    stream = Live2DiffStream(components, config, device, dtype)
                    stream.set_prompt("benchmark")
                    settings = Settings(backend="pytorch" if kind == "eager" else kind, engine_dir=str(engine_dir),
                                        depth_backend="pytorch" if kind == "eager" else "auto",
                                        vae_backend="pytorch" if kind == "eager" else "auto")
                    report = apply_backend(stream, settings)  # type: ignore[arg-type]
                    active, reason = report.active if kind != "eager" else "eager", report.fallback_reason
                result = measure(stream, args.frames, width, height, device)
                if kind == "eager":
                    flops = unet_flops(stream)
                geometry = layer_geometry(components.unet.unet, height // 8, width // 8)
                window_only, with_scratch = analytic_kv_bytes(geometry, n, config.causal, dtype)
                unet_ms = result["stage_ms"].get("unet", 0.0)
                result.update(
                    backend=kind, active=active, fallback_reason=reason, width=width, height=height, steps=n,
                    kv_analytic_window_bytes=window_only, kv_analytic_with_scratch_bytes=with_scratch,
                    unet_flops_per_frame=flops,
                    unet_tflops=(flops / (unet_ms / 1000) / 1e12) if flops and unet_ms and kind != "no-cache" else None,
                )
                rows.append(result)
                print(f"  measured {kind} {width}x{height} n={n}: {result['fps']:.2f} FPS", flush=True)
                del stream, components

    header = (f"{'backend':<12}{'size':>9}{'n':>3}{'FPS':>8}{'p50 ms':>9}{'p95 ms':>9}"
              + "".join(f"{s + ' ms':>11}" for s in STAGES) + f"{'TFLOP/s':>9}{'%peak':>7}{'KV MiB':>9}{'analytic':>10}{'peak GPU':>10}")
    print(header)
    for r in rows:
        tf = r["unet_tflops"]
        print(f"{r['backend'] + ('' if r['active'] in ('eager', r['backend']) else '!'):<12}"
              f"{str(r['width']) + 'x' + str(r['height']):>9}{r['steps']:>3}{r['fps']:>8.2f}"
              f"{r['latency_ms_p50']:>9.1f}{r['latency_ms_p95']:>9.1f}"
              + "".join(f"{r['stage_ms'].get(s, 0.0):>11.1f}" for s in STAGES)
              + (f"{tf:>9.3f}{100 * tf / peak:>6.1f}%" if tf else f"{'-':>9}{'-':>7}")
              + f"{r['kv_cache_bytes'] / 2**20:>9.1f}"
              + (f"{r['kv_analytic_with_scratch_bytes'] / 2**20:>10.1f}" if r["backend"] != "no-cache" else f"{'-':>10}")
              + (f"{r['peak_gpu_mib']:>9.0f}M" if r["peak_gpu_mib"] is not None else f"{'-':>10}"))
    for r in rows:
        if r["backend"] != "no-cache" and r["kv_cache_bytes"] != r["kv_analytic_with_scratch_bytes"]:
            print(f"WARNING: KV cache {r['kv_cache_bytes']} B allocated != analytic {r['kv_analytic_with_scratch_bytes']} B")
        if r["fallback_reason"]:
            print(f"NOTE {r['backend']}: fell back ({r['fallback_reason']})")
    print("KV analytic = 2 (K,V) x n x sum_layers(HW x C) x bytes x (window + 1 scratch slot); "
          "window slots only: " + ", ".join(f"{r['kv_analytic_window_bytes'] / 2**20:.1f}"
                                           for r in rows if r["backend"] == backends[0]) + " MiB")
    for width, height in sizes:
        for n in steps:
            same = [r for r in rows if (r["width"], r["height"], r["steps"]) == (width, height, n)]
            base = next((r for r in same if r["backend"] == "no-cache"), None)
            eager = next((r for r in same if r["backend"] == "eager"), None)
            if base and eager:
                print(f"{width}x{height} n={n}: KV cache speed-up {eager['fps'] / base['fps']:.2f}x FPS over no-cache")
    if args.json:
        record = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": {k: str(v) for k, v in vars(args).items()},
            "device": device_name,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "matmul_peak_tflops": peak,
            "unavailable_backends": skipped,
            "results": rows,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
