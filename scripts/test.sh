#!/usr/bin/env bash
# The whole test suite (README's test command; CI runs it through .ci/run).
#
# Sets up libtorch (idempotent), points the registry conformance suite at the local PostgreSQL and
# MariaDB when they answer (TEST_POSTGRES_URL / TEST_MYSQL_URL; set them yourself to use others),
# checks the Markdown links, validates the Kubernetes manifests, checks the protocol with buf (lint,
# and breaking changes against the last released protocol), installs the console test's browser
# and the partition test's network tools (scripts/test-tools.sh), runs every Rust test in the
# workspace, then builds the container images from the binaries those tests ran and runs the
# container system test (scripts/container-test.sh; a NOTICE where podman cannot work here).
# Ends with the list of Rust tests that skipped themselves (a missing database, tool or privilege).
# CONTAINER_TEST=0 skips the images and the container test.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# On a first run the wheel download overlaps with compiling what does not need libtorch.
bash scripts/setup.sh --prebuild --workspace --locked --tests

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if answers 127.0.0.1 5432; then
    export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
  else
    echo "NOTICE: PostgreSQL is not answering on 127.0.0.1:5432 — skipping the PostgreSQL registry backend tests"
  fi
fi
if [ -z "${TEST_MYSQL_URL:-}" ]; then
  if answers 127.0.0.1 3306; then
    export TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/test"
  else
    echo "NOTICE: MariaDB/MySQL is not answering on 127.0.0.1:3306 — skipping the MySQL registry backend tests"
  fi
fi
echo "registry backends under test: sqlite${TEST_POSTGRES_URL:+ postgres}${TEST_MYSQL_URL:+ mysql}"

# Tests that skip themselves write why to this file (common::test_skip::notice); libtest hides
# what passing tests print, so the list at the end is how a skip shows in CI's output.
export LSTM_TEST_SKIPS
LSTM_TEST_SKIPS=$(mktemp "${TMPDIR:-/tmp}/lstm-test-skips.XXXXXX")
list_skips() {
  if [ -s "$LSTM_TEST_SKIPS" ]; then
    echo "NOTICE: $(sort -u "$LSTM_TEST_SKIPS" | wc -l) Rust test(s) skipped themselves (they passed without running their check):"
    sort -u "$LSTM_TEST_SKIPS" | sed 's/^/  skipped: /'
  else
    echo "no Rust test skipped itself"
  fi
  rm -f "$LSTM_TEST_SKIPS"
}
trap list_skips EXIT

python3 scripts/check-links.py
bash scripts/validate-k8s.sh
bash scripts/check-proto.sh
bash scripts/test-tools.sh

cargo test --workspace --locked --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"

if [ "${CONTAINER_TEST:-1}" = 0 ]; then
  echo "NOTICE: CONTAINER_TEST=0 — skipping the container images and their system test"
else
  bash scripts/container-test.sh
fi
