#!/bin/sh
# Daily trigger run (SPEC §8), executed by the `training-triggers` CronJob in the grpcurl image
# (busybox sh). For every symbol in TRIGGER_SYMBOLS it asks the trainer Service which trigger
# fires today (lstm.v1.Trainer/CheckTriggers) and, when one does, runs it
# (lstm.v1.Trainer/RunTriggeredTraining, streamed to the job log). The trainer itself picks the
# trigger (monthly > quarterly > performance_decay > weekly) and takes the per-symbol lease, so
# this script holds no training logic.
#
# Env: TRAINER_TARGET (host:port), TRIGGER_SYMBOLS (space/comma separated), AUTH_TOKEN (optional
# bearer token), TRAIN_YEARS (optional), AS_OF (YYYY-MM-DD, default: today in UTC — the schedule
# runs after the New York close, which is still the same day in UTC).
# Exit status: 0 when every symbol was checked and every triggered run completed, 1 otherwise.
set -eu

target=${TRAINER_TARGET:?TRAINER_TARGET is not set (host:port of the trainer Service)}
as_of=${AS_OF:-$(date -u +%Y-%m-%d)}
years=${TRAIN_YEARS:-}
symbols=$(printf '%s' "${TRIGGER_SYMBOLS:-}" | tr ',' ' ')

case "$as_of" in
  [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
  *) echo "AS_OF='$as_of' is not a YYYY-MM-DD date" >&2; exit 2 ;;
esac
case "$years" in
  *[!0-9]*) echo "TRAIN_YEARS='$years' is not a whole number of years" >&2; exit 2 ;;
esac
if [ -z "$(printf '%s' "$symbols" | tr -d ' ')" ]; then
  echo "TRIGGER_SYMBOLS is empty: list the symbols in the lstm-forecast-config ConfigMap" >&2
  exit 2
fi

# grpcurl expands ${AUTH_TOKEN} itself (-expand-headers), so the token never appears in argv.
call() {
  if [ -n "${AUTH_TOKEN:-}" ]; then
    # shellcheck disable=SC2016 # single quotes on purpose: grpcurl expands it
    grpcurl -plaintext -expand-headers -H 'authorization: Bearer ${AUTH_TOKEN}' \
      -d "$2" "$target" "lstm.v1.Trainer/$1"
  else
    grpcurl -plaintext -d "$2" "$target" "lstm.v1.Trainer/$1"
  fi
}

out=${TMPDIR:-/tmp}/trigger-run.json
failed=""
checked=0
ran=0
for symbol in $symbols; do
  case "$symbol" in
    *[!A-Za-z0-9._-]*)
      echo "== $symbol: not a valid symbol (letters, digits, '.', '_', '-'), skipped" >&2
      failed="$failed $symbol"
      continue ;;
  esac
  req="{\"symbol\": \"$symbol\", \"as_of\": \"$as_of\"${years:+, \"years\": $years}}"
  echo "== $symbol: CheckTriggers as_of=$as_of"
  if ! call CheckTriggers "$req" >"$out" 2>&1; then
    cat "$out"
    failed="$failed $symbol"
    continue
  fi
  cat "$out"
  checked=$((checked + 1))
  if ! grep -Eq '"selected": *"[a-z_]+"' "$out"; then
    echo "== $symbol: no trigger fires on $as_of"
    continue
  fi
  echo "== $symbol: RunTriggeredTraining"
  ran=$((ran + 1))
  # Events go to the job log as they arrive (tee) and to $out for the verdict; busybox sh has
  # no pipefail, so grpcurl's status travels through a file.
  { call RunTriggeredTraining "$req" 2>&1; echo $? >"$out.rc"; } | tee "$out"
  if [ "$(cat "$out.rc")" = 0 ] && ! grep -q '"failed": *{' "$out"; then
    echo "== $symbol: triggered training finished"
  else
    echo "== $symbol: triggered training FAILED" >&2
    failed="$failed $symbol"
  fi
done

echo "summary: as_of=$as_of checked=$checked triggered=$ran failed=[${failed# }]"
[ -z "$failed" ]
