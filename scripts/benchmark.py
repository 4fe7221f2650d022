#!/usr/bin/env python
"""Streaming speed of Live2Diff, with and without the KV cache, side by side in one run.

    python scripts/benchmark.py                       # CPU: 'small' preset, 256x256, 2 steps
    python scripts/benchmark.py --preset sd15 --size 512 --device cuda --dtype float16

Models are built from configs with RANDOM weights (no download), so the numbers measure
compute, not quality. Reports frames per second, per-frame latency p50/p95, per-stage
milliseconds (depth, encode, unet, decode) and KV-cache memory for the cached stream, and the
same for the no-cache baseline that re-runs the UNet over the whole window every frame (the
paper's Table 3 comparison), then the speed-up. Writes a JSON record with --json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live2diff_broadcast.engine.components import (  # noqa: E402
    Live2DiffComponents,
    sd15_random_components,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.engine.config import StreamConfig  # noqa: E402
from live2diff_broadcast.engine.recompute import WindowRecomputeStream  # noqa: E402
from live2diff_broadcast.engine.stream import Live2DiffStream  # noqa: E402
from live2diff_broadcast.engine.translator import resolve_device  # noqa: E402

PRESETS = {"tiny": tiny_components, "small": small_random_components, "sd15": sd15_random_components}
T_INDEX = {1: (35,), 2: (30, 40), 3: (30, 36, 42), 4: (25, 34, 43, 47)}


def measure(stream: Live2DiffStream, frames: int, size: int, device: torch.device) -> dict:
    """Warm up (sinks), then time ``frames`` streamed frames: once plain for FPS and latency,
    then again with per-stage timing (device-synchronised)."""
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(8)]
    stream.set_prompt("benchmark")
    for i in range(stream.config.causal.warmup + stream.config.num_steps):  # sinks + fill the pipeline
        stream.push(images[i % 8])

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    latencies = []
    sync()
    start = time.perf_counter()
    for i in range(frames):
        t0 = time.perf_counter()
        stream.push(images[i % 8])
        sync()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start

    stream.timer.enabled = True
    stream.timer.reset()
    for i in range(frames):
        stream.push(images[i % 8])
    stages = stream.timer.mean_ms(frames)
    stream.timer.enabled = False
    q = statistics.quantiles(latencies, n=20)
    return {
        "fps": frames / elapsed,
        "latency_ms_p50": 1000 * statistics.median(latencies),
        "latency_ms_p95": 1000 * q[18],
        "stage_ms": stages,
        "kv_cache_bytes": stream.cache.nbytes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--size", type=int, default=256, help="square resolution in pixels")
    parser.add_argument("--steps", type=int, choices=sorted(T_INDEX), default=2)
    parser.add_argument("--frames", type=int, default=24, help="streamed frames timed per measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"])
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-KV-cache baseline")
    parser.add_argument("--json", type=Path, default=None, help="write the record here")
    args = parser.parse_args()

    device, dtype = resolve_device(args.device, args.dtype)
    torch.set_grad_enabled(False)
    config = StreamConfig(height=args.size, width=args.size, t_index_list=T_INDEX[args.steps])

    def build() -> Live2DiffComponents:
        return PRESETS[args.preset]().to(device, dtype)

    print(f"preset={args.preset} size={args.size} steps={args.steps} device={device} dtype={dtype} "
          f"torch={torch.__version__} threads={torch.get_num_threads()}  (random weights: speed only)")
    results = {"cached": measure(Live2DiffStream(build(), config, device, dtype), args.frames, args.size, device)}
    if not args.no_baseline:
        baseline = WindowRecomputeStream(build(), config, device, dtype)
        results["no_cache"] = measure(baseline, args.frames, args.size, device)

    stages = ["depth", "encode", "unet", "decode"]
    header = f"{'path':<10}{'FPS':>8}{'p50 ms':>9}{'p95 ms':>9}" + "".join(f"{s + ' ms':>11}" for s in stages) + f"{'KV MiB':>9}"
    print(header)
    for name, r in results.items():
        print(f"{name:<10}{r['fps']:>8.2f}{r['latency_ms_p50']:>9.1f}{r['latency_ms_p95']:>9.1f}"
              + "".join(f"{r['stage_ms'].get(s, 0.0):>11.1f}" for s in stages)
              + f"{r['kv_cache_bytes'] / 2**20:>9.1f}")
    if "no_cache" in results:
        speedup = results["cached"]["fps"] / results["no_cache"]["fps"]
        unet_ratio = results["no_cache"]["stage_ms"]["unet"] / results["cached"]["stage_ms"]["unet"]
        print(f"speed-up from the KV cache: {speedup:.2f}x FPS, {unet_ratio:.2f}x less UNet time per frame")
    if args.json:
        record = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": {k: str(v) for k, v in vars(args).items()},
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "results": results,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
