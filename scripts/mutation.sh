#!/usr/bin/env bash
# Mutation testing of some modules against a FAST test selection of their own (docs/testing.md).
#
#   bash scripts/mutation.sh NAME "GLOB[,GLOB...]" TEST [TEST...]
#   bash scripts/mutation.sh scheduler live2diff_broadcast/engine/scheduler.py tests/engine/test_scheduler.py
#
# Copies the working tree (tracked and untracked, not ignored files) to $MUTATION_DIR/NAME (default
# /tmp/live2diff-mutation/NAME), points [tool.mutmut] there at the given modules and tests, and runs
# mutmut under `nice -n 19` with MUTATION_CHILDREN workers (default 2). Each mutant runs only the
# selected tests that execute its function, fastest first, stopping at the first failure. Prints the
# per-module score and writes NAME/results.txt (every mutant and its status). Re-running continues
# where the last run stopped (mutmut keeps its state in NAME/mutants/). MUTATION_SAMPLE=K runs
# every K-th mutant only (sorted by name: a deterministic sample) for modules too slow to run whole.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=$repo/.venv/bin/python
name=$1
globs=$2
shift 2
[ $# -ge 1 ] || { echo "usage: $0 NAME GLOBS TEST [TEST...]" >&2; exit 2; }
work=${MUTATION_DIR:-/tmp/live2diff-mutation}/$name
mkdir -p "$work"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work" 2>/dev/null || true)
"$python" "$repo/scripts/mutation_config.py" "$work/pyproject.toml" "$globs" "$@"
cd "$work"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
names=()
if [ -n "${MUTATION_SAMPLE:-}" ]; then
    mapfile -t names < <(nice -n 19 "$python" "$repo/scripts/mutation_config.py" --sample "$MUTATION_SAMPLE")
    echo "sampled ${#names[@]} mutants (every ${MUTATION_SAMPLE}th)"
fi
nice -n 19 "$repo/.venv/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-2}" "${names[@]}" || true
"$repo/.venv/bin/mutmut" results --all true > results.txt || true
"$python" "$repo/scripts/mutation_config.py" --score results.txt
