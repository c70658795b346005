#!/usr/bin/env bash
# The live-scoring benchmark (BENCHMARKS.md, "Live scoring"): 1 000 000 logged answers over 300
# keys on SQLite and, when it answers, PostgreSQL (TEST_POSTGRES_URL, default the local one).
# Env: BENCH_LIVE_ROWS (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo bench --locked -p predictor-svc --bench live_scoring --profile dev
