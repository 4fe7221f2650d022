"""The ``live2diff-broadcast`` command. Each subcommand lives in ``commands/<module>.py``.

The CLI is instant: only the module of the command being run is imported, and every command
module imports nothing heavy (torch, diffusers, transformers) at its top, only inside its
handler. ``control``, ``status``, ``plugins``, ``devices``, ``check`` and every ``--help`` so
never load a model library (tests/test_cli.py guards it; docs/benchmarks.md has the wall times).

A command module exposes ``register(subparsers)``, which adds its parser (with the same one-line
help as in ``COMMANDS``, checked by the tests) and sets ``func=handler(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# command name -> (module in commands/, one-line help for the command list)
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("render", "translate a video file through the live streaming path"),
    "models": ("models", "list the model files a profile needs (present or missing, where, size); --download fetches them"),
    "convert": ("convert", "convert a checkpoint once into a fast, safe format"),
    "plugins": ("plugins", "list installed source and sink plugins"),
    "devices": ("devices", "list cameras and NDI sources you can use as input"),
    "run": ("run", "run the live broadcast (source -> engine -> sink)"),
    "build-engines": ("build_tensorrt", "prebuild the ONNX graphs and TensorRT engines a show profile needs (cached, keyed)"),
    "check": ("check", "validate a show profile and list, per style, which models are present or missing"),
    "control": ("control", "switch styles / passthrough of a running broadcast, or read its status"),
    "eval": ("eval", "measure depth MSE, CLIP temporal score, warp error and latency over clips"),
    "train": ("train", "train the temporal modules (stage 1) or them + the depth prior (stage 2)"),
    "import-config": ("import_config", "turn one of the Live2Diff authors' YAML style configs into a show profile"),
}


def chosen_command(argv: list[str]) -> str | None:
    """The command ``argv`` runs (its first word that is not an option), or None (none, or a top-level -h first)."""
    for word in argv:
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full arguments of the command ``argv`` names (None: of every command);
    the others are listed with their one-line help only, without importing their modules."""
    parser = argparse.ArgumentParser(prog="live2diff-broadcast", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = set(COMMANDS) if argv is None else {chosen_command(argv)}
    for name, (module, help_text) in COMMANDS.items():
        if name in wanted:
            importlib.import_module(f"live2diff_broadcast.commands.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_text)
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
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
