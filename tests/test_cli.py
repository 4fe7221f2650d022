"""The instant CLI: commands that need no model never import torch, diffusers or transformers.

A fresh interpreter runs each command line through ``cli.main`` in turn and records, after each,
which model libraries are in ``sys.modules``; nothing is timed here (scripts/bench_cli.py measures
the wall time, docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from live2diff_broadcast import cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers")

PROBE = """
import json, sys
from live2diff_broadcast import cli
heavy = {heavy!r}
seen = {{}}
for argv in json.loads(sys.argv[1]):
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    seen[" ".join(argv)] = {{"code": code, "heavy": [m for m in heavy if m in sys.modules]}}
print("PROBE" + json.dumps(seen))
"""


def _probe(argvs: list[list[str]]) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), json.dumps(argvs)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE")]
    assert lines, f"probe failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("PROBE"):])


def test_commands_that_need_no_model_import_no_model_library(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    argvs = [
        ["--help"],
        *[[name, "--help"] for name in cli.COMMANDS],
        ["control", "--port", "9", "status"],  # nothing listens on the discard port: exit 2, quickly
        ["control", "--port", "9", "style", "anime"],
        ["control", "stlye", "anime"],  # a typo, refused before any round trip
        ["plugins"],
        ["check", str(ROOT / "profiles" / "default.toml")],
        ["check", str(ROOT / "profiles" / "example_show.toml")],
        ["check", str(missing)],
    ]
    seen = _probe(argvs)
    for argv in argvs:
        result = seen[" ".join(argv)]
        assert result["heavy"] == [], f"`live2diff-broadcast {' '.join(argv)}` imported {result['heavy']}"
    assert seen["--help"]["code"] == 0
    assert seen["control --port 9 status"]["code"] == 2
    assert seen["control stlye anime"]["code"] == 2
    assert seen[f"check {missing}"]["code"] == 2


def test_devices_imports_no_model_library() -> None:
    seen = _probe([["devices", "--timeout", "0.2"]])
    assert next(iter(seen.values()))["heavy"] == []


def test_every_command_module_imports_without_torch() -> None:
    code = ("import importlib, sys\n"
            f"for m in {sorted({m for m, _ in cli.COMMANDS.values()})!r}:\n"
            "    importlib.import_module('live2diff_broadcast.commands.' + m)\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_command_list_and_each_modules_own_help_agree() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module, _ in cli.COMMANDS.values():
        importlib.import_module(f"live2diff_broadcast.commands.{module}").register(sub)
    registered = {action.dest: action.help for action in sub._choices_actions}
    assert registered == {name: help_text for name, (_, help_text) in cli.COMMANDS.items()}


def test_only_the_chosen_command_is_built_in_full() -> None:
    assert cli.chosen_command(["-v", "control", "style", "run"]) == "control"
    assert cli.chosen_command(["-h", "run"]) is None
    assert cli.chosen_command(["nosuch", "run"]) is None
    with pytest.raises(SystemExit):
        cli.main(["contrl", "status"])  # argparse names the valid choices


def test_eval_help_names_the_real_modes_and_clip_model() -> None:
    from live2diff_broadcast.commands import eval as eval_command
    from live2diff_broadcast.evaluation.modes import MODES
    from live2diff_broadcast.evaluation.temporal_clip import DEFAULT_CLIP_MODEL

    assert eval_command.MODE_NAMES == tuple(MODES)
    assert eval_command.DEFAULT_CLIP_MODEL == DEFAULT_CLIP_MODEL
