#!/usr/bin/env bash
# The main job on the embedded default (SQLite), end to end, as a user would run it:
#   set up -> build -> start trainer-svc and predictor-svc -> import bars -> train (progress
#   streamed) -> wait for the predictor to hot-load the new version -> print forecasts -> stop.
#
# Environment (all optional):
#   CSV=path SYMBOL=XYZ   train on your own CSV (Yahoo / akshare / tushare / plain dialect)
#   SYMBOLS="DEMO1 DEMO2 DEMO3"  generated symbols when no CSV is given
#   YEARS=2               model key years
#   MAX_EPOCHS=N          cap every training stage (default: the pipeline's own defaults)
#   WORK_DIR=data/main-job  where the SQLite registry, logs and generated CSVs go
#   TRAINER_PORT=50051 PREDICTOR_PORT=50052 TRAINER_METRICS_PORT=9090 PREDICTOR_METRICS_PORT=9091
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

YEARS=${YEARS:-2}
WORK_DIR=${WORK_DIR:-data/main-job}
TRAINER_PORT=${TRAINER_PORT:-50051}
PREDICTOR_PORT=${PREDICTOR_PORT:-50052}
TRAINER_METRICS_PORT=${TRAINER_METRICS_PORT:-9090}
PREDICTOR_METRICS_PORT=${PREDICTOR_METRICS_PORT:-9091}
trainer=127.0.0.1:$TRAINER_PORT
predictor=127.0.0.1:$PREDICTOR_PORT

say() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

say "setup (libtorch from the torch==2.11.0 wheel, cached outside the clone)"
bash scripts/setup.sh
grpcurl=$repo/.venv/bin/grpcurl
py=$repo/.venv/bin/python

say "build"
cargo build --locked --bins -p trainer-svc -p predictor-svc
cargo build --locked -p common --example generate_bars
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
  --metrics-listen "127.0.0.1:$TRAINER_METRICS_PORT" >"$WORK_DIR/trainer.log" 2>&1 &
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
echo "both services SERVING"

if [ -n "${CSV:-}" ]; then
  symbols=${SYMBOL:?set SYMBOL=... together with CSV=...}
  cp "$CSV" "$WORK_DIR/$symbols.csv"
else
  symbols=${SYMBOLS:-DEMO1 DEMO2 DEMO3}
  say "generate synthetic bars for: $symbols"
  seed=1
  for s in $symbols; do
    # ~3.2 years of weekdays ending yesterday, with a weak planted predictable component.
    "$bin/examples/generate_bars" --days 820 --seed "$seed" --signal 1.0 \
      --end "$(date -u -d yesterday +%F)" >"$WORK_DIR/$s.csv"
    seed=$((seed + 1))
  done
fi

say "IngestBars (gRPC) for: $symbols"
for s in $symbols; do
  "$py" -c 'import json,sys; print(json.dumps({"symbol": sys.argv[1], "csv": open(sys.argv[2]).read()}))' \
    "$s" "$WORK_DIR/$s.csv" | "$grpcurl" -plaintext -d @ "$trainer" lstm.v1.Trainer/IngestBars
done

# Renders the Train event stream (grpcurl prints one JSON object per event) as progress lines.
progress() {
  "$py" -u -c '
import json, sys
buf = ""
depth = 0
for line in sys.stdin:
    buf += line
    depth += line.count("{") - line.count("}")
    if depth > 0 or not buf.strip():
        continue
    ev = json.loads(buf); buf = ""
    run = ev.get("runId", "")[:8]
    if "queued" in ev:    print(f"[{run}] queued, position {ev[\"queued\"].get(\"position\", 0)}")
    elif "started" in ev: print(f"[{run}] started on {ev[\"started\"].get(\"device\", \"?\")}")
    elif "stage" in ev:   print(f"[{run}] stage {ev[\"stage\"][\"stage\"]} {ev[\"stage\"].get(\"detail\", \"\")}")
    elif "cvFold" in ev:
        f = ev["cvFold"]; print(f"[{run}]   cv fold {f.get(\"fold\",0)}/{f.get(\"folds\",0)} f1={f.get(\"f1\",0):.3f} mse={f.get(\"mse\",0):.2e}")
    elif "epoch" in ev:
        e = ev["epoch"]
        print(f"[{run}]   epoch {e.get(\"epoch\",0):>3}/{e.get(\"maxEpochs\",0)} loss={e.get(\"trainLoss\",0):.4f} val_vol_match={e.get(\"valVolatilityMatch\",0):.3f} lr={e.get(\"lr\",0):.2e}{\" *\" if e.get(\"improved\") else \"\"}")
    elif "validation" in ev:
        v = ev["validation"]; print(f"[{run}] validation: deploy={v.get(\"deploy\", False)} ({v.get(\"reason\", \"\")})")
    elif "completed" in ev:
        r = ev["completed"]["result"]; print(f"[{run}] completed: version {r.get(\"versionId\")} deployed={r.get(\"deployed\", False)} in {r.get(\"trainingSeconds\", 0):.1f}s")
        print(r.get("versionId"), file=open(sys.argv[1], "w"))
    elif "failed" in ev:
        print(f"[{run}] FAILED {ev[\"failed\"]}"); sys.exit(1)
' "$1"
}

declare -A trained
for s in $symbols; do
  say "Train $s (${YEARS}y) — progress streamed from trainer-svc"
  req=$("$py" -c 'import json,sys; r={"symbol":sys.argv[1],"years":int(sys.argv[2]),"seed":7}
m=sys.argv[3]
if m: r["max_epochs"]=int(m)
print(json.dumps(r))' "$s" "$YEARS" "${MAX_EPOCHS:-}")
  "$grpcurl" -plaintext -max-time 3600 -d "$req" "$trainer" lstm.v1.Trainer/Train | progress "$WORK_DIR/$s.version"
  trained[$s]=$(cat "$WORK_DIR/$s.version")
done

say "ListVersions"
"$grpcurl" -plaintext -d '{}' "$trainer" lstm.v1.Trainer/ListVersions | "$py" -c '
import json, sys
for v in json.load(sys.stdin).get("versions", []):
    print(f"  {v[\"symbol\"]}/{v[\"years\"]}y {v[\"versionId\"]} current={v.get(\"isCurrent\", False)} kind={v.get(\"modelKind\")}")'

say "wait for predictor-svc to hot-load the new versions, then forecast"
for s in $symbols; do
  want=${trained[$s]}
  for i in $(seq 1 60); do
    out=$("$grpcurl" -plaintext -d "{\"symbol\":\"$s\",\"years\":$YEARS}" "$predictor" lstm.v1.Predictor/Predict 2>&1 || true)
    if echo "$out" | grep -q "\"versionId\": \"$want\""; then break; fi
    sleep 0.5
  done
  echo "$out" | "$py" -c '
import json, sys
p = json.load(sys.stdin)
mags = ", ".join(f"{m*100:+.2f}%" for m in p["magnitudes"])
print(f"{p[\"symbol\"]}/{p[\"years\"]}y as of {p[\"asOf\"]} (version {p[\"versionId\"]}): {p[\"direction\"]} prob_up={p[\"probUp\"]:.3f}")
print(f"  next 5 trading days {p[\"forecastDates\"][0]} .. {p[\"forecastDates\"][-1]}: daily {mags}; cumulative {p[\"cumulativeReturn\"]*100:+.2f}%")
print("  predicted closes: " + ", ".join(f"{c:.2f}" for c in p["predictedCloses"]))'
done

say "shut down both services (SIGTERM)"
stop_services
trap - EXIT
echo "main job finished in $(( $(date +%s) - started ))s; registry: $WORK_DIR/registry.db, logs: $WORK_DIR/*.log"
