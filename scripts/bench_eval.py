"""Evaluation wall time per 100 frames (translation through the live path + the three metrics).

CPU (recorded in docs/evaluation.md):
    .venv/bin/python scripts/bench_eval.py --preset tiny --size 64x64 --frames 100
GPU: python scripts/bench_eval.py --preset sd15 --size 512x512 --frames 100
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import cv2
import numpy as np
import torch

from live2diff_broadcast.engine.components import (
    sd15_random_components,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.evaluation.flow import FarnebackFlow
from live2diff_broadcast.evaluation.modes import MODES
from live2diff_broadcast.evaluation.runner import run_clip
from live2diff_broadcast.evaluation.scores import MetricSuite
from live2diff_broadcast.evaluation.structure import DepthStructureMetric
from live2diff_broadcast.evaluation.temporal_clip import ClipTemporalMetric, tiny_clip_vision
from live2diff_broadcast.evaluation.warp_error import WarpErrorMetric

PRESETS = {"tiny": tiny_components, "small": small_random_components, "sd15": sd15_random_components}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="tiny")
    p.add_argument("--size", default="64x64")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--mode", choices=list(MODES), default="live2diff")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    width, height = (int(v) for v in args.size.split("x"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    components = PRESETS[args.preset]().to(device, dtype)
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur((rng.random((height, width + args.frames, 3)) * 255).astype(np.uint8), (0, 0), 2)
    frames = [np.ascontiguousarray(texture[:, i : i + width]) for i in range(args.frames)]
    metrics = MetricSuite(DepthStructureMetric(components.depth, device),
                          ClipTemporalMetric(tiny_clip_vision().to(dtype), device), WarpErrorMetric(FarnebackFlow()))
    config = StreamConfig(height=height, width=width)
    started = time.perf_counter()
    run = run_clip(frames, "a painting", MODES[args.mode], components, config, device, dtype)
    translated = time.perf_counter()
    metrics.score(frames, run.outputs)
    done = time.perf_counter()
    scale = 100 / args.frames
    json.dump({
        "preset": args.preset, "size": args.size, "frames": args.frames, "mode": args.mode, "device": str(device),
        "threads": torch.get_num_threads(), "translate_s_per_100_frames": (translated - started) * scale,
        "metrics_s_per_100_frames": (done - translated) * scale, "total_s_per_100_frames": (done - started) * scale,
        "mean_latency_s": float(run.latency_s.mean()),
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
