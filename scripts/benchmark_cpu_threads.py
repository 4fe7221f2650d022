"""How torch's CPU threads behave on a busy machine: `render` frames/s per OpenMP setting, interleaved.

    .venv/bin/python scripts/benchmark_cpu_threads.py [--frames 30] [--size 128] [--rounds 2]

Each variant runs ``live2diff-broadcast render`` (the tiny engine, CPU) on the same generated clip
in a fresh process, so OpenMP reads its environment at start as it does for a user:

* ``spin``: ``OMP_WAIT_POLICY=ACTIVE`` (what OpenMP did before the CLI chose: threads spin between ops);
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` (the CLI's default since this benchmark: threads sleep);
* ``one-thread``: ``OMP_NUM_THREADS=1``.

The variants alternate within each round, so a change in the machine's load hits all of them.
Prints render's own frames/s (warmup included) per run, and the load average before each.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

VARIANTS = {
    "spin": {"OMP_WAIT_POLICY": "ACTIVE"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one-thread": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
}


def write_clip(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, (320, 240))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (240, 320, 3), np.uint8)
    for i in range(frames):
        writer.write(np.roll(base, 4 * i, axis=1))
    writer.release()


def write_profile(path: Path, size: int) -> None:
    path.write_text(f'name = "threads"\n[engine]\ndevice = "cpu"\nwidth = {size}\nheight = {size}\n'
                    '[[styles]]\nname = "a"\nprompt = "a"\n')


def render(clip: Path, profile: Path, env: dict[str, str]) -> float:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")} | env
    done = subprocess.run([sys.executable, "-m", "live2diff_broadcast.cli", "render", str(clip),
                           str(clip.with_name("out.mp4")), "--profile", str(profile)],
                          env=full, capture_output=True, text=True, timeout=3600)
    found = re.search(r"\(([\d.]+) frames/s", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"render failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=int, default=128, help="engine width = height")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip, profile = Path(tmp) / "clip.avi", Path(tmp) / "show.toml"
        write_clip(clip, args.frames)
        write_profile(profile, args.size)
        results: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_ in range(args.rounds):
            for name, env in VARIANTS.items():
                load = os.getloadavg()[0]
                fps = render(clip, profile, env)
                results[name].append(fps)
                print(f"round {round_ + 1} {name:10s} load {load:5.2f}  {fps:6.2f} frames/s", flush=True)
        for name, values in results.items():
            print(f"{name:10s} frames/s: " + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
