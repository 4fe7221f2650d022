"""The newcomer's first run: ``live2diff-broadcast run --duration 20`` with no profile, as the README says.

Runs it ``--runs`` times in a fresh temporary folder (the output file lands there) and reads the
show's own count from its last line: frames written, live (new restyled frames), held (the last
restyled frame repeated: the tiny engine runs slower than the 30 fps output), passthrough (the
test pattern, captioned, while the engine loads and warms up). "Restyled share" is (live + held) /
written: the part of the 20 s a viewer sees the AI's picture. Also the engine's frame rate (live
frames over the time it was live) and the command's wall time (imports and start-up included).

    .venv/bin/python scripts/bench_quickstart.py [--runs 3] [--duration 20] [--repo .]

Record the figures in README.md / docs/benchmarks.md with the machine, ``uptime`` and the date.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"done: \d+ frames in, (\d+) out \((\d+) live, (\d+) held, (\d+) passthrough, (\d+) no signal")


def one_run(repo: Path, duration: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="l2d-quickstart-") as folder:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "live2diff_broadcast.cli", "run", "--duration", str(duration), "--no-hotkeys",
             "--no-terminal-keys", "--no-control-server"],
            cwd=folder, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True,
        )
        wall = time.perf_counter() - started
    match = DONE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out, live, held, passthrough, no_signal = (int(v) for v in match.groups())
    live_at = re.search(r"(\d\d:\d\d:\d\d,\d+) INFO \S+engine_keeper: engine: live", done.stderr)
    started_at = re.search(r"(\d\d:\d\d:\d\d,\d+) INFO \S+supervisor: broadcast started", done.stderr)
    live_s = duration - (_seconds(live_at.group(1)) - _seconds(started_at.group(1))) if live_at and started_at else 0.0
    return {"out": out, "live": live, "held": held, "passthrough": passthrough + no_signal,
            "share": (live + held) / max(out, 1), "engine_fps": live / live_s if live_s > 0 else 0.0,
            "to_live_s": duration - live_s, "wall_s": wall}


def _seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose live2diff_broadcast to run")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; `run --duration {args.duration:g}` (no profile) from {args.repo}\n")
    print("| run | frames written | live | held | passthrough | restyled share | start -> engine live (s) "
          "| engine fps | command wall (s) |\n|---|---|---|---|---|---|---|---|---|")
    shares = []
    for i in range(args.runs):
        r = one_run(args.repo, args.duration)
        shares.append(r["share"])
        print(f"| {i + 1} | {r['out']:.0f} | {r['live']:.0f} | {r['held']:.0f} | {r['passthrough']:.0f} | "
              f"{100 * r['share']:.0f}% | {r['to_live_s']:.1f} | {r['engine_fps']:.1f} | {r['wall_s']:.1f} |", flush=True)
    print(f"\nrestyled share: median {100 * statistics.median(shares):.0f}%, min {100 * min(shares):.0f}%; "
          f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
