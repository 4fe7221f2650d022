#!/usr/bin/env bash
# Creates .venv and installs live2diff-broadcast with everything the tests need.
# On a machine without an NVIDIA GPU, torch is pinned to the CPU build through
# constraints-cpu.txt (a bare `torch` would pull several GB of CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
constraints=()
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "setup: no NVIDIA GPU found: installing the CPU build of torch (constraints-cpu.txt)"
    constraints=(-c constraints-cpu.txt)
fi
python -m pip install -q "${constraints[@]}" -e ".[dev]"
echo "setup: done. Activate with: . .venv/bin/activate"
