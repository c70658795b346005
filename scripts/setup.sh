#!/usr/bin/env bash
# One-time, idempotent project setup.
#
# * Installs the Python side (torch==2.11.0 from PyPI, whose bundled libtorch tch 0.24 links
#   against, plus the reference/test tools in scripts/requirements.txt) into a virtualenv cached
#   OUTSIDE the clone: ${LSTM_FORECAST_CACHE:-~/.cache/lstm-forecast}/torch-2.11.0. Every fresh
#   clone reuses it; a second run only checks a stamp and returns.
# * Links it into the repo as .venv (git-ignored) and .libtorch -> the wheel's torch/ directory.
#   .cargo/config.toml points LIBTORCH at .libtorch, and each binary crate's build.rs writes an
#   rpath to its lib/ folder, so neither cargo nor the binaries need hand-set variables.
# * `setup.sh --prebuild CARGO_BUILD_ARGS...` (scripts/main-job.sh, scripts/test.sh): when the
#   venv has to be installed (a first run: ~4.6 GB download), compiles meanwhile everything of
#   `cargo build CARGO_BUILD_ARGS` that does not need libtorch (`--keep-going`: torch-sys and
#   what depends on it fail for now and are built by the caller's own cargo run afterwards), so
#   the download and most of a cold build overlap.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${LSTM_FORECAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstm-forecast}
venv="$cache/torch-2.11.0"
req="$repo/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

log() { printf '[setup] %s\n' "$*" >&2; }

prebuild=()
if [ "${1:-}" = --prebuild ]; then
  shift
  prebuild=("$@")
fi

install_env() {
  mkdir -p "$cache"
  # Serialise concurrent setups (two fresh clones building at once).
  exec 9>"$cache/.setup.lock"
  flock 9
  if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
    if [ ! -x "$venv/bin/python" ]; then
      log "creating virtualenv $venv"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --upgrade pip
    fi
    log "installing $(grep -cv '^\s*#' "$req") python requirements (torch is ~4.6 GB the first time)"
    # --no-compile: no .pyc for the ~7 500 modules up front (~25 CPU-s that a cold main job
    # spends beside its compile); Python writes them on first import instead.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -r "$req"
    echo "$want" >"$stamp"
  fi
  flock -u 9
}

# Links .venv and .libtorch (the wheel's torch/ directory) into the clone.
link_env() {
  local torch_dir
  torch_dir=$("$venv/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torch").origin))')
  [ -f "$torch_dir/lib/libtorch_cpu.so" ] || { log "libtorch not found under $torch_dir"; return 1; }
  ln -sfn "$venv" "$repo/.venv"
  ln -sfn "$torch_dir" "$repo/.libtorch"
  log "libtorch: $torch_dir"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  log "python env up to date: $venv"
elif [ "${#prebuild[@]}" -gt 0 ] && [ ! -e "$repo/.libtorch/lib/libtorch_cpu.so" ]; then
  # Linked as soon as the install is done, so torch-sys can still build within this cargo run
  # if cargo has not reached it yet.
  { install_env && link_env; } &
  installer=$!
  log "meanwhile: cargo build --keep-going ${prebuild[*]} (the crates that do not need libtorch; log: target/prebuild.log)"
  mkdir -p "$repo/target"
  (cd "$repo" && cargo build --keep-going "${prebuild[@]}" >"$repo/target/prebuild.log" 2>&1) || true
  wait "$installer" || { log "installing the python env failed"; exit 1; }
else
  install_env
fi
link_env
