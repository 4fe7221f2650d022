"""The ``live2diff-broadcast`` command. Each subcommand lives in ``commands/<name>.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
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


def main(argv: list[str] | None = None) -> int:
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
