#!/usr/bin/env bash
# Regenerates the README's console screenshots (docs/images/console.png, console-model.png) by
# running the console's browser test, which takes them in headless Chromium on a real run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/test-tools.sh
CONSOLE_SCREENSHOT="$repo/docs/images/console.png" cargo test --locked -p system-tests --test console_browser -- --nocapture
ls -l docs/images/console.png docs/images/console-model.png
