#!/usr/bin/env bash
# Peak memory (max RSS) of one `trainer-svc train` run against the number of trading days it
# trains on, and what a run above --max-train-samples costs (issue 12.3). Synthetic bars ending
# 2024-12-31, a fresh SQLite registry per size, the quickest recipe (base model, 1 epoch, no CV,
# importance, plots or validation), so the numbers are the data path, not the epochs.
#
#   bash bench/run_train_memory_bench.sh [DAYS ...]     (default: 2520 7500 15000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
export LIBTORCH="${LIBTORCH:-$PWD/.libtorch}" LIBTORCH_CXX11_ABI=1
cargo build -q -p trainer-svc --bin trainer-svc
bin="$PWD/target/debug"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2520 7500 15000 20000)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%-8s %-10s %-12s %-8s %s\n' days max_rss_mb wall_s exit result
for days in "${sizes[@]}"; do
  csv="$work/bars-$days.csv"
  "$bin/trainer-svc" generate-bars --days "$days" --seed 3 --end 2024-12-31 > "$csv"
  db="sqlite://$work/reg-$days.db"
  "$bin/trainer-svc" import --symbol MEM --csv "$csv" --database-url "$db" > /dev/null
  set +e
  /usr/bin/time -f '%M %e' -o "$work/time" "$bin/trainer-svc" train --symbol MEM --start 1900-01-01 \
    --base-model --max-epochs 1 --no-cv --no-importance --no-plot --no-validation --quiet \
    --seed 1 --database-url "$db" > "$work/out" 2> "$work/err"
  rc=$?
  set -e
  read -r rss_kb wall < <(tail -n 1 "$work/time") || true
  result="trained"
  [ "$rc" -eq 0 ] || result="refused: $(grep -o 'holds [0-9]* trading days, more than the [0-9]*' "$work/err" "$work/out" | head -1 | cut -d: -f2-)"
  printf '%-8s %-10s %-12s %-8s %s\n' "$days" "$((rss_kb / 1024))" "$wall" "$rc" "$result"
done
