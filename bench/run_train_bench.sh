#!/usr/bin/env bash
# Training throughput: the Rust training step (tch, common::training::fit) vs the same network
# and step in PyTorch eager (bench/train_throughput.py), on the CPU, in one go.
#
# Usage: bench/run_train_bench.sh   (defaults: 512 samples, 2 timed epochs, 2 threads, 3 rounds)
#        BENCH_SAMPLES=256 BENCH_EPOCHS=3 BENCH_THREADS=2 BENCH_ROUNDS=5 bench/run_train_bench.sh
# Output: one JSON line per run, then a summary with best and median samples/s and the ratio
# (also written to bench/out/train_throughput.txt).
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

ROUNDS="${BENCH_ROUNDS:-3}"
bin="$(cargo bench -p common --bench train_throughput --no-run --message-format=json 2>/dev/null \
    | "$PY" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "train_throughput" and m.get("executable"):
        print(m["executable"])' | tail -n1)"
# Alternate the two implementations so that load from other processes hits both alike;
# each run is a fresh process (model init + one warm-up epoch, then the timed epochs).
rust_runs=() py_runs=()
for ((r = 1; r <= ROUNDS; r++)); do
    echo "== round $r/$ROUNDS: rust (tch) ==" >&2
    line="$("$bin" --bench | grep '^{')"
    echo "$line"
    rust_runs+=("$line")
    echo "== round $r/$ROUNDS: python (torch eager) ==" >&2
    line="$("$PY" bench/train_throughput.py)"
    echo "$line"
    py_runs+=("$line")
done

"$PY" - "$cpu" "$(printf '%s\n' "${rust_runs[@]}")" "$(printf '%s\n' "${py_runs[@]}")" <<'PYEOF' | tee bench/out/train_throughput.txt
import json, statistics, sys
cpu = sys.argv[1]
rust = [json.loads(l) for l in sys.argv[2].splitlines() if l.strip()]
py = [json.loads(l) for l in sys.argv[3].splitlines() if l.strip()]
rs = [r["samples_per_s"] for r in rust]
ps = [p["samples_per_s"] for p in py]
r0 = rust[0]
print(f"machine: {cpu}, {r0['threads']} threads")
print(f"workload: {r0['model']}, {r0['samples']} samples x {r0['epochs']} timed epochs, batch 32 "
      f"({r0['batches']} optimizer steps per run), {len(rs)} alternating runs each")
print("rust-tch      samples/s: " + ", ".join(f"{v:.1f}" for v in rs))
print(f"pytorch-eager samples/s: " + ", ".join(f"{v:.1f}" for v in ps) + f" (torch {py[0]['torch']})")
print(f"best:   rust {max(rs):.1f}  python {max(ps):.1f}  ratio {max(rs) / max(ps):.2f}x")
print(f"median: rust {statistics.median(rs):.1f}  python {statistics.median(ps):.1f}  ratio {statistics.median(rs) / statistics.median(ps):.2f}x")
rc = [r["samples_per_cpu_s"] for r in rust if r.get("samples_per_cpu_s")]
pc = [p["samples_per_cpu_s"] for p in py if p.get("samples_per_cpu_s")]
if rc and pc:
    print("per CPU-second (less sensitive to other load): rust " + ", ".join(f"{v:.1f}" for v in rc)
          + " | python " + ", ".join(f"{v:.1f}" for v in pc)
          + f" | median ratio {statistics.median(rc) / statistics.median(pc):.2f}x")
with open("/proc/loadavg") as f:
    print(f"load average at the end: {' '.join(f.read().split()[:3])}")
PYEOF
