#!/usr/bin/env bash
# Training throughput: the Rust training step (tch, common::training::fit) vs the same network
# and step in PyTorch eager (bench/train_throughput.py), on the CPU, in one go.
#
# Usage: bench/run_train_bench.sh            (defaults: 512 samples, 2 timed epochs, 2 threads)
#        BENCH_SAMPLES=256 BENCH_EPOCHS=3 BENCH_THREADS=2 bench/run_train_bench.sh
# Output: one JSON line per implementation, then a summary (also written to bench/out/).
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_SAMPLES="${BENCH_SAMPLES:-512}"
export BENCH_EPOCHS="${BENCH_EPOCHS:-2}"
export BENCH_THREADS="${BENCH_THREADS:-2}"
export BENCH_SEED="${BENCH_SEED:-0}"
# Keep OpenMP/MKL to the same thread count on both sides.
export OMP_NUM_THREADS="$BENCH_THREADS" MKL_NUM_THREADS="$BENCH_THREADS"
PY="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$PY" ]]; then
    echo "no Python venv at $PY; run scripts/setup.sh first" >&2
    exit 1
fi
mkdir -p bench/out

echo "== building the Rust bench (release) ==" >&2
cargo bench -p common --bench train_throughput --no-run >&2

echo "== machine ==" >&2
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
echo "cpu: $cpu; nproc: $(nproc); threads: $BENCH_THREADS" >&2

echo "== rust (tch) ==" >&2
rust_json="$(cargo bench -q -p common --bench train_throughput 2>/dev/null | grep '^{')"
echo "$rust_json"
echo "== python (torch eager) ==" >&2
py_json="$("$PY" bench/train_throughput.py)"
echo "$py_json"

"$PY" - "$rust_json" "$py_json" "$cpu" <<'PYEOF' | tee bench/out/train_throughput.txt
import json, sys
rust, py, cpu = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
ratio = rust["samples_per_s"] / py["samples_per_s"]
print(f"machine: {cpu}, {rust['threads']} threads")
print(f"workload: {rust['model']}, {rust['samples']} samples x {rust['epochs']} epochs, batch 32 "
      f"({rust['batches']} timed steps each)")
print(f"rust-tch:      {rust['samples_per_s']:.1f} samples/s ({rust['seconds']:.2f} s)")
print(f"pytorch-eager: {py['samples_per_s']:.1f} samples/s ({py['seconds']:.2f} s, torch {py['torch']})")
print(f"ratio rust/python: {ratio:.2f}x")
PYEOF
