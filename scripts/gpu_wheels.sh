#!/usr/bin/env bash
# Downloads, HERE (a machine with PyPI), the wheels scripts/gpu_check.sh installs on a lent GPU
# machine, which has PyTorch + CUDA but no network and lacks these packages (or has older ones).
# Versions are those of this checkout's .venv (the ones the CPU tests pass with), for the GPU
# machine's Python (default 3.12, as seen there in 2026-11; override: --python-version 3.X).
# Output: .whl/ (git-ignored; name it in the run tool's `carry`). About 9 MiB.
#
#   bash scripts/gpu_wheels.sh [--python-version 3.12]
set -euo pipefail
cd "$(dirname "$0")/.."
pyver=3.12
if [[ "${1:-}" == "--python-version" ]]; then pyver=${2:?"--python-version needs a value like 3.12"}; fi
# Not on the GPU image (or too old there): diffusers and the pydantic family (pydantic_core is
# compiled: its wheel must match the Python there), typing_extensions (pydantic needs >= 4.16).
# torch, transformers, huggingface_hub, tokenizers, safetensors, accelerate, numpy, opencv and
# onnxruntime are on the image already and are used as they are there.
names=(diffusers pydantic pydantic_core pydantic-settings python-dotenv annotated-types typing-inspection typing_extensions)
[[ -x .venv/bin/python ]] || { echo "gpu_wheels: no .venv here; run scripts/setup.sh first (the versions come from it)" >&2; exit 1; }
pins=()
for name in "${names[@]}"; do
    version=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name") \
        || { echo "gpu_wheels: $name is not installed in .venv" >&2; exit 1; }
    pins+=("$name==$version")
done
rm -rf .whl && mkdir -p .whl
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${pins[@]}"
echo "gpu_wheels: $(ls .whl | wc -l) wheels for Python $pyver in .whl ($(du -sh .whl | cut -f1)): ${pins[*]}"
