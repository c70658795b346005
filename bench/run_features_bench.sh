#!/usr/bin/env bash
# Features benchmark: Rust `build_samples` (criterion) vs the pandas reference on the same
# 2 520 synthetic bars, plus a parity check of the outputs; prints both medians and the ratio.
# Usage: bash bench/run_features_bench.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || { echo "missing $PY: run 'bash scripts/setup.sh' first" >&2; exit 1; }
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CSV=$WORK/bars.csv

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
echo "== rust: cargo bench -p common --bench features"
FEATURES_BENCH_CSV=$CSV cargo bench -q -p common --bench features -- --noplot build_samples_2520_days
RUST_NS=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
  "$TARGET_DIR/criterion/build_samples_2520_days/new/estimates.json")

echo "== pandas: $PY bench/features_pandas.py --csv <same bars> --bench"
PANDAS_OUT=$("$PY" bench/features_pandas.py --csv "$CSV" --bench --repeat "${PANDAS_REPEAT:-30}")
echo "$PANDAS_OUT" | grep -v '^PANDAS_MEDIAN_NS='
PANDAS_NS=$(echo "$PANDAS_OUT" | sed -n 's/^PANDAS_MEDIAN_NS=//p')

echo "== parity (same bars, all samples)"
"$PY" bench/features_pandas.py --csv "$CSV" --dump-x "$WORK/x.f32"
"$PY" - "$WORK/x.f32" <<'PYEOF'
import sys
import numpy as np
sys.path.insert(0, "bench")
x = np.fromfile(sys.argv[1], dtype="<f4")
print(f"pandas produced {x.size // (60 * 21)} samples x 60 x 21 (Rust parity to 1e-5 is the test "
      "common/tests/features_pandas_parity.rs)")
PYEOF

"$PY" - "$RUST_NS" "$PANDAS_NS" <<'PYEOF'
import sys
rust, pandas = float(sys.argv[1]), float(sys.argv[2])
print(f"== result: rust median {rust / 1e6:.3f} ms, pandas median {pandas / 1e6:.3f} ms, "
      f"rust is {pandas / rust:.1f}x faster")
PYEOF
