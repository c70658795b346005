#!/usr/bin/env bash
# Installs the system tools of two tests with apt, once (idempotent):
# * the headless browser of the console's browser test (tests/console_browser.rs): Debian's
#   chromium and chromium-driver (selenium comes with the project venv, scripts/requirements.txt);
# * the network tools of the partition test (trainer-svc/tests/partition.rs): iproute2 (`ip netns`,
#   veth) and nftables (`nft`, which drops the partitioned replica's packets).
# Without root (or password-less sudo) or apt it prints a NOTICE and those tests skip themselves,
# except under CI, where it must work.
set -euo pipefail
packages=(chromium chromium-driver iproute2 nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
report() { echo "test tools: $(chromium --version 2>/dev/null | head -n 1), $(nft --version 2>/dev/null)"; }
[ "${#missing[@]}" -eq 0 ] && { report; exit 0; }
why=
sudo=()
if ! command -v apt-get >/dev/null; then
  why="apt-get not found"
elif [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then sudo=(sudo -n); else why="installing needs root (or password-less sudo)"; fi
fi
if [ -n "$why" ]; then
  echo "NOTICE: ${missing[*]} not installed ($why): the console's browser test and the partition test will skip themselves"
  [ "${CI:-}" = true ] && { echo "error: CI must run the browser and partition tests" >&2; exit 1; }
  exit 0
fi
echo "installing with apt: ${missing[*]}"
apt() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
# The package lists may be stale on a fresh machine: update only when the install needs it.
apt install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { apt update -qq && apt install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
report
