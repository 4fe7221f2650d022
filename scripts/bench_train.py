"""Training step time and peak memory (paper Sec. 3.5 training, one stage), on synthetic clips.

CPU (recorded in docs/training.md):
    .venv/bin/python scripts/bench_train.py --preset small --size 128x128 --steps 3
GPU (full SD1.5-size architecture, random weights, bf16 autocast):
    python scripts/bench_train.py --preset sd15 --size 512x512 --steps 10 --precision bf16
Multi-GPU: the same arguments to scripts/train.py under `accelerate launch` (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from live2diff_broadcast.engine.components import (
    sd15_random_components,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.training.config import TrainConfig
from live2diff_broadcast.training.trainer import Trainer

PRESETS = {"tiny": tiny_components, "small": small_random_components, "sd15": sd15_random_components}


def write_clips(root: Path, count: int, frames: int, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        texture = (rng.random((height, width + frames, 3)) * 255).astype(np.uint8)
        writer = cv2.VideoWriter(str(root / f"clip{i}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
        for f in range(frames):
            writer.write(np.ascontiguousarray(texture[:, f : f + width]))
        writer.release()


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="small")
    p.add_argument("--size", default="128x128")
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--stage", type=int, choices=(1, 2), default=2)
    p.add_argument("--precision", choices=("no", "fp16", "bf16"), default="no")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    rss_before = rss_mib()
    components = PRESETS[args.preset]()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clips"
        data.mkdir()
        write_clips(data, 2, args.window * (args.steps + 1), height, width)
        # one step first (allocations, first-call overheads), then the timed steps from its checkpoint
        common = dict(data=data, output=Path(tmp) / "out", stage=args.stage, window=args.window, warmup=args.warmup,
                      height=height, width=width, chunk_stride=args.window, batch_size=args.batch_size,
                      precision=args.precision, checkpoint_every=1)
        Trainer(TrainConfig(max_steps=1, **common), components).run()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = Trainer(TrainConfig(max_steps=1 + args.steps, **common), components).run(resume=Path("latest"))
        elapsed = time.perf_counter() - started
    record = {
        "preset": args.preset, "size": args.size, "window": args.window, "batch_size": args.batch_size,
        "stage": args.stage, "precision": args.precision, "device": "cuda" if torch.cuda.is_available() else "cpu",
        "threads": torch.get_num_threads(), "timed_steps": args.steps,
        "s_per_step": result.seconds_per_step, "wall_s_incl_checkpoint_and_export": elapsed,
        "peak_rss_mib": rss_mib(), "rss_before_models_mib": rss_before,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "trainable_params_m": sum(p.numel() for p in components.unet.parameters() if p.requires_grad) / 1e6,
    }
    json.dump(record, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
