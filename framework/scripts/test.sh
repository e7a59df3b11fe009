#!/usr/bin/env bash
# The test command: installs packages, builds, runs every test (ctest). Fails when a test fails.
# Tests read the shared assets from $QRUN_ASSETS (default: ../shared beside the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
QRUN_WITH_CHROMIUM=${QRUN_WITH_CHROMIUM:-1} bash "$root/framework/scripts/install-deps.sh"
bash "$root/framework/scripts/build.sh"
build=${QRUN_BUILD_DIR:-$root/build}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 1800
