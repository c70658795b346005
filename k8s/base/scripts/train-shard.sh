#!/bin/sh
# One shard of a full retrain (lstm.v1.Trainer/TrainAll), executed by the Indexed Job
# `train-all` in the grpcurl image (busybox sh). Each pod of the Job runs its own trainer-svc as a
# native sidecar (on its own GPU in the gpu overlay) and this script calls it on localhost with
# shard_index = JOB_COMPLETION_INDEX and shard_count = SHARD_COUNT, so the sorted symbol universe
# is split across the Job's pods (symbol i goes to shard i % SHARD_COUNT).
#
# Env: JOB_COMPLETION_INDEX (set by Kubernetes), SHARD_COUNT (must equal spec.completions),
# FAST_TRAINING (true|false), TRAIN_YEARS (optional), MAX_EPOCHS (optional cap on every
# training stage), POOL_SIZE (optional: N >= 2 trains the shard's sorted symbols as pooled
# models of N symbols each; shards hold disjoint symbols, so disjoint pools), AUTH_TOKEN (optional),
# FAIL_ON_SYMBOL_ERROR (true: a symbol that fails to train fails the shard, so the Job retries
# it; false (default): failures are logged and recorded in the registry's training failures).
set -eu

index=${JOB_COMPLETION_INDEX:?JOB_COMPLETION_INDEX is not set: run this in an Indexed Job}
count=${SHARD_COUNT:?SHARD_COUNT is not set (must equal the Job spec.completions)}
fast=${FAST_TRAINING:-true}
years=${TRAIN_YEARS:-}
max_epochs=${MAX_EPOCHS:-}
pool_size=${POOL_SIZE:-}
target=${TRAINER_TARGET:-127.0.0.1:50051}

for value in "$index" "$count" "$years" "$max_epochs" "$pool_size"; do
  case "$value" in
    *[!0-9]*) echo "JOB_COMPLETION_INDEX/SHARD_COUNT/TRAIN_YEARS/MAX_EPOCHS/POOL_SIZE must be whole numbers, got '$value'" >&2; exit 2 ;;
  esac
done
if [ "$count" -lt 1 ] || [ "$index" -ge "$count" ]; then
  echo "shard index $index is outside shard_count $count: set SHARD_COUNT to spec.completions" >&2
  exit 2
fi
case "$fast" in true|false) ;; *) echo "FAST_TRAINING must be true or false, got '$fast'" >&2; exit 2 ;; esac

auth() {
  if [ -n "${AUTH_TOKEN:-}" ]; then
    # shellcheck disable=SC2016 # single quotes on purpose: grpcurl expands it
    grpcurl -plaintext -expand-headers -H 'authorization: Bearer ${AUTH_TOKEN}' "$@"
  else
    grpcurl -plaintext "$@"
  fi
}

# The sidecar's startupProbe already gates this container; the wait also covers clusters where
# the sidecar is not started first.
waited=0
until grpcurl -plaintext -d '{"service": "lstm.v1.Trainer"}' "$target" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; do
  waited=$((waited + 2))
  if [ "$waited" -ge 300 ]; then
    echo "trainer at $target did not report SERVING within 300 s" >&2
    exit 1
  fi
  sleep 2
done

req="{\"shard_index\": $index, \"shard_count\": $count, \"fast_training\": $fast${years:+, \"years\": $years}${max_epochs:+, \"max_epochs\": $max_epochs}${pool_size:+, \"pool_size\": $pool_size}}"
echo "== shard $index/$count: TrainAll $req"
out=${TMPDIR:-/tmp}/train-all.json
# Results go to the job log as they arrive (tee) and to $out for the verdict; busybox sh has no
# pipefail, so grpcurl's status travels through a file.
{ auth -d "$req" "$target" lstm.v1.Trainer/TrainAll 2>&1; echo $? >"$out.rc"; } | tee "$out"
status=$(cat "$out.rc")
if [ "$status" -ne 0 ]; then
  echo "== shard $index/$count: TrainAll failed (grpcurl exit $status)" >&2
  exit 1
fi
if ! grep -Eq '"summary": *\{' "$out"; then
  echo "== shard $index/$count: stream ended without a summary" >&2
  exit 1
fi
if grep -Eq '"(fail_count|failCount)": *"?[1-9]' "$out"; then
  echo "== shard $index/$count: some symbols failed (see the results above)" >&2
  [ "${FAIL_ON_SYMBOL_ERROR:-false}" = true ] && exit 1
fi
echo "== shard $index/$count: done"
