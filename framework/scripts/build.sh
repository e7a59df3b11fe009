#!/usr/bin/env bash
# Configures and builds qrun (Release) into ${QRUN_BUILD_DIR:-build}.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${QRUN_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$(nproc)"
