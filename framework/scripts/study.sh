#!/usr/bin/env bash
# The main job: installs packages, builds qrun, and runs an experiment (default: the reference
# study experiments/baseline_vs_nf4.toml). Extra arguments go to qrun (e.g. --set model.path=DIR).
# Stops early, with the command that fixes it, when WikiText-2 or the model is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
experiment=${QRUN_EXPERIMENT:-experiments/baseline_vs_nf4.toml}
bash framework/scripts/install-deps.sh
bash framework/scripts/build.sh
qrun="${QRUN_BUILD_DIR:-$root/build}/bin/qrun"

wiki=datasets/wikitext-2-raw/wiki.test.raw
if [ ! -f "$wiki" ] && [[ " $* " != *"datasets[0].path"* ]]; then
  cat >&2 <<MSG
error: $wiki: WikiText-2 (raw) test split not found; fix: download it (CC BY-SA 3.0) with
  curl -L -o /tmp/wikitext-2-raw-v1.zip https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip \\
    && unzip -j /tmp/wikitext-2-raw-v1.zip wikitext-2-raw/wiki.test.raw -d datasets/wikitext-2-raw/
  (sha256 173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08), or pass --set 'datasets[0].path=/path/to/wiki.test.raw'
MSG
  exit 1
fi
# Validate everything (plugins, parameters, files) before any heavy work.
"$qrun" run "$experiment" --dry-run "$@" >/dev/null
exec "$qrun" run "$experiment" "$@"
