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
# where the last run stopped (mutmut keeps its state in NAME/mutants/).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
name=$1
globs=$2
shift 2
[ $# -ge 1 ] || { echo "usage: $0 NAME GLOBS TEST [TEST...]" >&2; exit 2; }
work=${MUTATION_DIR:-/tmp/live2diff-mutation}/$name
mkdir -p "$work"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work" 2>/dev/null || true)
"$repo/.venv/bin/python" - "$work/pyproject.toml" "$globs" "$@" <<'EOF'
import json, re, sys
path, globs, tests = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
text = open(path).read()
text = re.sub(r"(?m)^only_mutate = .*$", "only_mutate = " + json.dumps(globs), text)
text = re.sub(r"(?m)^pytest_add_cli_args_test_selection = .*$", "pytest_add_cli_args_test_selection = " + json.dumps(tests), text)
open(path, "w").write(text)
EOF
cd "$work"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
nice -n 19 "$repo/.venv/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-2}" || true
"$repo/.venv/bin/mutmut" results --all true > results.txt || true
"$repo/.venv/bin/python" - results.txt <<'EOF'
import collections, sys
counts = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    if ":" not in line:
        continue
    mutant, status = (part.strip() for part in line.rsplit(":", 1))
    module = mutant.split(".x_")[0].split(".xǁ")[0]
    counts[module][status] += 1
print(f"{'module':55} {'killed':>7} {'survived':>8} {'no tests':>8} {'timeout':>7} {'other':>6} {'score':>6}")
for module, c in sorted(counts.items()):
    other = sum(v for k, v in c.items() if k not in ("killed", "survived", "no tests", "timeout"))
    tested = c["killed"] + c["survived"] + c["timeout"]
    score = (c["killed"] + c["timeout"]) / tested if tested else 0.0
    print(f"{module:55} {c['killed']:7} {c['survived']:8} {c['no tests']:8} {c['timeout']:7} {other:6} {score:6.0%}")
EOF
