#!/usr/bin/env bash
# predictor-svc latency/throughput benchmark (loopback, in-process server, tonic clients).
# Bounded: ~35 s of load after the build (pass --quick for ~12 s). Prints a Markdown table and
# whether each goal of BENCHMARKS.md was met.
# Uses the dev profile (dependencies incl. the tch shim at opt-level 3, workspace crates at 1;
# the forward pass runs in libtorch either way); PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p predictor-svc --bench predictor_load --profile "${PROFILE:-dev}" -- "$@"
