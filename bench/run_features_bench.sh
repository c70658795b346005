#!/usr/bin/env bash
# Features benchmark: Rust `build_samples` (criterion) vs two pandas references on the same
# 2 520 synthetic bars (`--style seed`: the original system's per-sample loop; `--style
# vectorised`: hand-vectorised numpy), plus parity checks; prints the medians and both ratios.
# Usage: bash bench/run_features_bench.sh            (from anywhere inside the repository)
# Env: PANDAS_REPEAT (vectorised runs, default 30), SEED_REPEAT (seed-style runs, default 10).
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

echo "== pandas, vectorised: $PY bench/features_pandas.py --csv <same bars> --bench --style vectorised"
VEC_OUT=$("$PY" bench/features_pandas.py --csv "$CSV" --bench --style vectorised --repeat "${PANDAS_REPEAT:-30}")
echo "$VEC_OUT" | grep -v '^PANDAS_MEDIAN_NS='
VEC_NS=$(echo "$VEC_OUT" | sed -n 's/^PANDAS_MEDIAN_NS=//p')

echo "== pandas, seed style (original system's per-sample loop): ... --bench --style seed"
SEED_OUT=$("$PY" bench/features_pandas.py --csv "$CSV" --bench --style seed --repeat "${SEED_REPEAT:-10}")
echo "$SEED_OUT" | grep -v '^PANDAS_MEDIAN_NS='
SEED_NS=$(echo "$SEED_OUT" | sed -n 's/^PANDAS_MEDIAN_NS=//p')

echo "== parity: both pandas styles agree on these bars; every sample value of Rust vs each style within 1e-5"
"$PY" bench/features_pandas.py --csv "$CSV" --check-styles
cargo test -q -p common --test features_pandas_parity -- --nocapture 2>&1 | grep -E "test result|max \|rust|panicked" || true

echo "== load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$RUST_NS" "$VEC_NS" "$SEED_NS" <<'PYEOF'
import sys
rust, vec, seed = (float(a) for a in sys.argv[1:4])
print(f"== result: rust median {rust / 1e6:.3f} ms")
print(f"==   vs seed-style pandas (original system): {seed / 1e6:.3f} ms -> rust is {seed / rust:.1f}x faster")
print(f"==   vs vectorised numpy/pandas:             {vec / 1e6:.3f} ms -> rust is {vec / rust:.1f}x faster")
PYEOF
