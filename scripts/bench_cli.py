"""Wall time of the CLI commands that need no model (control, plugins, check, every --help).

Each command line runs ``--repeats`` times in a fresh interpreter under ``python -X importtime``;
per line: the median wall time, the import time the interpreter itself reports (the sum of the
top-level imports' cumulative microseconds) and the three costliest top-level imports. ``--repo``
runs another checkout's package (e.g. an older commit in a worktree) with this interpreter, for a
before / after comparison on the same machine and load:

    .venv/bin/python scripts/bench_cli.py [--repo /path/to/checkout] [--repeats 5]

Nothing needs a running show: ``control`` talks to a port where nothing listens (exit 2, the same
imports as a real round trip). Record the figures in docs/benchmarks.md with ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINES = [
    ["--help"],
    ["control", "--port", "9", "status"],
    ["control", "--port", "9", "style", "anime"],
    ["control", "--help"],
    ["run", "--help"],
    ["plugins"],
    ["check", "profiles/default.toml"],
]
_IMPORT = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def measure(repo: Path, argv: list[str], repeats: int) -> tuple[float, float, list[tuple[str, float]]]:
    """(median wall s, median import s, [(top-level module, cumulative s)] of the last run, costliest first)."""
    walls, imports = [], []
    top: list[tuple[str, float]] = []
    env = {**os.environ, "PYTHONPATH": str(repo)}
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "live2diff_broadcast.cli", *argv],
                              cwd=repo, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        top = [(m.group(4), int(m.group(2)) / 1e6) for m in _IMPORT.finditer(done.stderr) if len(m.group(3)) == 1]
        imports.append(sum(s for _, s in top))
    return statistics.median(walls), statistics.median(imports), sorted(top, key=lambda t: -t[1])[:3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose live2diff_broadcast to run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"repo {args.repo}  python {sys.version.split()[0]}  load {os.getloadavg()[0]:.2f}  repeats {args.repeats}\n")
    print("| command | wall s (median) | imports s | costliest top-level imports |")
    print("|---|---|---|---|")
    for argv in LINES:
        wall, imports, top = measure(args.repo, argv, args.repeats)
        costly = ", ".join(f"{name} {s:.2f}" for name, s in top)
        print(f"| `{' '.join(argv)}` | {wall:.2f} | {imports:.2f} | {costly} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
