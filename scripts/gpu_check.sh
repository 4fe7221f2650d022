#!/usr/bin/env bash
# The GPU check in one command, run ON a lent GPU machine (PyTorch + CUDA preinstalled as
# `python3`, no network). Installs the carried wheels from .whl/ (made here by
# scripts/gpu_wheels.sh) into /tmp with --no-index --no-deps, puts them first on PYTHONPATH
# (the system torch stays in use), then runs scripts/gpu_check.py under a hard timeout.
# Records land in $OUT (the run tool brings them back): gpu_check.json, benchmarks.md (the docs
# with this run's rows), exactness.xml, exactness.log, run.log. Extra arguments go to gpu_check.py.
#
#   bash scripts/gpu_check.sh                 # sd15 layout, 512x512, steps 1-4, under 8 minutes
#   bash scripts/gpu_check.sh --smoke         # the same flow on the CPU with the tiny preset
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export OUT=${OUT:-$PWD/out/gpu_check}
mkdir -p "$OUT"
pyver=$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') || { echo "gpu_check: no $PY here" >&2; exit 2; }
tag="cp${pyver/./}"
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: no wheels in .whl/. On the machine with PyPI run 'bash scripts/gpu_wheels.sh --python-version $pyver'" \
         "and name .whl in the run tool's carry list." >&2
    exit 2
fi
if ls .whl/pydantic_core-*.whl | grep -qv -- "-$tag-"; then
    echo "gpu_check: .whl holds $(ls .whl/pydantic_core-*.whl | xargs -n1 basename) but this Python is $pyver ($tag):" \
         "rerun 'bash scripts/gpu_wheels.sh --python-version $pyver' where PyPI is reachable." >&2
    exit 2
fi
site=/tmp/live2diff-site
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
    || { echo "gpu_check: installing the carried wheels failed (see above)" >&2; exit 2; }
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
# Internal budget 420 s (gpu_check.py --budget-s); the hard stop below catches a stage that overruns it.
timeout -k 10 "${GPU_CHECK_TIMEOUT:-465}" $PY scripts/gpu_check.py "$@" 2>&1 | tee "$OUT/run.log"
rc=${PIPESTATUS[0]}
[[ $rc == 124 || $rc == 137 ]] && echo "gpu_check: stopped at ${GPU_CHECK_TIMEOUT:-465} s; finished stages are in $OUT/gpu_check.json"
exit "$rc"
