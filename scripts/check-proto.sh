#!/usr/bin/env bash
# API compatibility of the lstm.v1 protocol (run by scripts/test.sh; buf from the project venv,
# PyPI `buf-bin`, installed by scripts/setup.sh):
#   buf lint      the STANDARD rules, with the exceptions buf.yaml explains (SPEC-fixed names);
#   buf breaking  the FILE rules against proto/released/lstm.v1.binpb, the image of the last
#                 released protocol: a backend compiled against it must keep compiling and talking.
# --release rewrites that image from the working tree's proto/ (when a release is cut; commit it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
buf=$repo/.venv/bin/buf
released=proto/released/lstm.v1.binpb
if [ ! -x "$buf" ]; then
  if [ "${CI:-}" = true ]; then
    echo "error: $buf is missing; scripts/setup.sh installs it (requirements: buf-bin)" >&2
    exit 1
  fi
  echo "NOTICE: $buf not found (run scripts/setup.sh) — skipping buf lint and buf breaking"
  exit 0
fi
if [ "${1:-}" = --release ]; then
  "$buf" build -o "$released"
  echo "wrote $released from proto/ ($("$buf" --version)); commit it with the release"
  exit 0
fi
"$buf" lint
"$buf" breaking --against "$released"
# The check can fail: the same protocol with one field renamed must be refused.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r buf.yaml proto "$scratch/"
sed -i 's/^  string symbol = 1;$/  string ticker = 1;/' "$scratch/proto/lstm/v1/predictor.proto"
if (cd "$scratch" && "$buf" breaking --against "$repo/$released" >/dev/null 2>&1); then
  echo "error: buf breaking accepted a renamed field (PredictRequest.symbol -> ticker); the check is not working" >&2
  exit 1
fi
echo "buf lint and buf breaking (against $released): the protocol is compatible"
