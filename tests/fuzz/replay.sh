#!/usr/bin/env bash
# Replays every committed corpus and regression input through its harness once (no mutation):
# the short check a CI job can afford (a few seconds after tests/fuzz/build.sh). Exits non-zero
# when any input crashes, leaks, times out (> 2 s) or exceeds 2 GB.
# Usage: tests/fuzz/replay.sh [OUT_DIR of build.sh, default /tmp/qrun-fuzz]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/qrun-fuzz}
failed=0
for corpus in "$root"/tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  bin=$out/fuzz_$name
  [[ -x $bin ]] || { echo "$name: $bin not built (run tests/fuzz/build.sh)"; failed=1; continue; }
  inputs=("$corpus")
  [[ -d $root/tests/fuzz/regressions/$name ]] && inputs+=("$root/tests/fuzz/regressions/$name")
  if "$bin" -runs=0 -timeout=2 -rss_limit_mb=2048 "${inputs[@]}" >"$out/replay_$name.log" 2>&1; then
    echo "$name: ok ($(grep -o 'INITED.*corp: [0-9]*' "$out/replay_$name.log" | grep -o 'corp: [0-9]*'))"
  else
    echo "$name: FAILED (see $out/replay_$name.log)"; failed=1
  fi
done
exit $failed
