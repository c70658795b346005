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

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== rust: cargo bench -p common --bench features"
FEATURES_BENCH_CSV=$CSV cargo bench -q -p common --bench features -- --noplot build_samples_2520_days
RUST_NS=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
  "$TARGET_DIR/criterion/build_samples_2520_days/new/estimates.json")

echo "== pandas: $PY bench/features_pandas.py --csv <same bars> --bench"
PANDAS_OUT=$("$PY" bench/features_pandas.py --csv "$CSV" --bench --repeat "${PANDAS_REPEAT:-30}")
echo "$PANDAS_OUT" | grep -v '^PANDAS_MEDIAN_NS='
PANDAS_NS=$(echo "$PANDAS_OUT" | sed -n 's/^PANDAS_MEDIAN_NS=//p')

echo "== parity: every sample value of Rust vs pandas within 1e-5"
cargo test -q -p common --test features_pandas_parity 2>&1 | grep -E "test result|max \|rust|panicked" || true

"$PY" - "$RUST_NS" "$PANDAS_NS" <<'PYEOF'
import sys
rust, pandas = float(sys.argv[1]), float(sys.argv[2])
print(f"== result: rust median {rust / 1e6:.3f} ms, pandas median {pandas / 1e6:.3f} ms, "
      f"rust is {pandas / rust:.1f}x faster")
PYEOF
