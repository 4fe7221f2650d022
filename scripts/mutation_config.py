"""Helpers of scripts/mutation.sh (run from the mutation copy's root).

    mutation_config.py PYPROJECT GLOBS TEST...   point [tool.mutmut] at GLOBS (comma list) and TESTs
    mutation_config.py --sample K                generate the mutants; print every K-th name (sorted)
    mutation_config.py --score RESULTS           per-module counts and score from `mutmut results --all true`
"""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import os
import re
import sys


def configure(path: str, globs: list[str], tests: list[str]) -> None:
    text = open(path).read()
    text = re.sub(r"(?m)^only_mutate = .*$", "only_mutate = " + json.dumps(globs), text)
    text = re.sub(r"(?m)^pytest_add_cli_args_test_selection = .*$",
                  "pytest_add_cli_args_test_selection = " + json.dumps(tests), text)
    open(path, "w").write(text)


def sample(every: int) -> list[str]:
    from mutmut.__main__ import create_mutants
    from mutmut.utils.file_utils import copy_src_dir

    os.makedirs("mutants", exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the names
        copy_src_dir()
        create_mutants(2)
    keys = sorted(key for meta in glob.glob("mutants/**/*.py.meta", recursive=True)
                  for key in json.load(open(meta))["exit_code_by_key"])
    return keys[::every]


def score(results: str) -> None:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in open(results):
        if ":" not in line:
            continue
        mutant, status = (part.strip() for part in line.rsplit(":", 1))
        if status == "not checked":  # outside the sample
            continue
        module = mutant.split(".x_")[0].split(".xǁ")[0]
        counts[module][status] += 1
    print(f"{'module':45} {'killed':>7} {'survived':>8} {'no tests':>8} {'timeout':>7} {'other':>6} {'score':>6}")
    for module, c in sorted(counts.items()):
        other = sum(v for k, v in c.items() if k not in ("killed", "survived", "no tests", "timeout"))
        generated = c["killed"] + c["survived"] + c["no tests"] + c["timeout"]  # a mutant no test runs survives too
        value = (c["killed"] + c["timeout"]) / generated if generated else 0.0
        print(f"{module:45} {c['killed']:7} {c['survived']:8} {c['no tests']:8} {c['timeout']:7} {other:6} {value:6.0%}")


if __name__ == "__main__":
    if sys.argv[1] == "--sample":
        print("\n".join(sample(int(sys.argv[2]))))
    elif sys.argv[1] == "--score":
        score(sys.argv[2])
    else:
        configure(sys.argv[1], sys.argv[2].split(","), sys.argv[3:])
