#!/usr/bin/env bash
# predictor-svc latency/throughput benchmark (loopback, in-process server, tonic clients) against
# an eager PyTorch forward of the same network (bench/predictor_torch.py, run by the benchmark as
# a child process with .venv/bin/python, or $PYTHON). Bounded: ~90 s after the build (pass
# --quick for ~35 s). Prints a Markdown table, the load average, and whether each goal of
# BENCHMARKS.md was met. BENCH_TORCH_THREADS=N: service and reference with N libtorch threads.
# Uses the dev profile (dependencies and workspace crates at opt-level 1, tch's C++ shims at 0;
# the forward pass runs in libtorch either way); PROFILE=release for a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p predictor-svc --bench predictor_load --profile "${PROFILE:-dev}" -- "$@"
