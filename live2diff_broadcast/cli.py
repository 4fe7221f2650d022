"""The ``live2diff-broadcast`` command. Each subcommand lives in ``commands/<name>.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# One module per subcommand; each exposes register(subparsers) that sets func=handler(args)->int.
COMMANDS = [
    "render",
    "models",
    "convert",
    "plugins",
    "devices",
    "run",
    "build_tensorrt",
    "check",
    "control",
    "eval",
    "train",
    "import_config",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live2diff-broadcast", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"live2diff_broadcast.commands.{name}").register(sub)
    return parser


def idle_cpu_threads_sleep() -> None:
    """OpenMP threads that wait sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose.

    Torch's CPU threads (OpenMP) spin between parallel regions by default. On a machine whose cores
    are busy with other work (a streaming PC: OBS, the game, the encoder) the spinning threads take
    turns on the same cores and every op waits for a descheduled thread: the tiny engine ran 16x
    slower (render: 0.44 against 7.05 frames/s, docs/benchmarks.md). OpenMP reads this when torch
    loads it, so it is set before any command imports torch; spawned engine processes inherit it.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    idle_cpu_threads_sleep()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "huggingface_hub", "diffusers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
