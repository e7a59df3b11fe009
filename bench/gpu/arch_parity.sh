#!/usr/bin/env bash
# Issue 13's GPU parity and speed table. Run THERE (the GPU machine) from the repository root, after
# `QRUN_GPU_TARGETS="qrun qrun_bench" source bench/gpu/build.sh` (a warm machine keeps build-gpu/).
# Needs the npm tokenizers gzipped as .gpu-assets/tokz/{llama3_1,qwen3,gemma3,llama2}/tokenizer.json.gz
# (+ tokenizer_config.json) and .gpu-assets/tokz/wiki.test.raw.gz. FAMILIES (default: all eight of the
# issue), in the order given; results to $OUT (else bench/results): arch_parity.json, arch_parity.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
P=${QRUN_GPU_PREFIX:-/opt/qrun-deps}
export LD_LIBRARY_PATH="$P/usr/lib/x86_64-linux-gnu:$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))'):${LD_LIBRARY_PATH:-}"
export QRUN_PLUGIN_PATH="$PWD/build-gpu/plugins"
RESULTS=${OUT:-bench/results}
TOK=/tmp/arch-tokenizers
mkdir -p "$RESULTS" "$TOK"
for t in llama3_1 qwen3 gemma3 llama2; do
  mkdir -p "$TOK/$t"
  gunzip -c ".gpu-assets/tokz/$t/tokenizer.json.gz" > "$TOK/$t/tokenizer.json" || exit 1
  cp ".gpu-assets/tokz/$t/tokenizer_config.json" "$TOK/$t/"
done
gunzip -c .gpu-assets/tokz/wiki.test.raw.gz > "$TOK/wiki.test.raw" || exit 1
failed=0
for family in ${FAMILIES:-llama-3.2-1b qwen3-0.6b gemma-3-1b gemma-2-2b phi-3-mini-4k llama-3.1-8b qwen3-8b mistral-7b-v0.3}; do
  echo "== $family"
  python3 bench/reference/arch_parity.py --family "$family" --qrun build-gpu/bin/qrun --tokenizers "$TOK" \
    --bench build-gpu/bin/qrun_bench --wikitext "$TOK/wiki.test.raw" --work /tmp/arch-parity \
    --out "$RESULTS/arch_parity.json" 2>&1 | tail -60 || failed=1
done
python3 bench/reference/arch_table.py "$RESULTS/arch_parity.json" "$RESULTS/arch_parity.md"
exit $failed
