#!/usr/bin/env bash
# Issue 8's speed comparison, qrun and transformers on the same card in one go. Run THERE (the GPU
# machine), from the repository root, after building (qrun_bench pulls in the plugins it loads):
#   QRUN_GPU_TARGETS=qrun_bench source bench/gpu/build.sh && bash bench/gpu/bench.sh
# (with the device tool's 10-minute limit per command, build in one call and bench in the next:
# the build folder is kept between calls on a warm machine).
# Needs .gpu-assets/ (models/tiny-qwen2/tokenizer*.json, datasets/wikitext-2-raw/wiki.test.raw)
# as bench/gpu/build.sh does. Steps:
#   1. the random Qwen2.5-0.5B-shaped model folder (bench/reference/random_qwen05.py), if absent;
#   2. transformers (bench/reference/hf_speed.py) in bfloat16 and float16;
#   3. qrun (build-gpu/bin/qrun_bench) in bfloat16, float16, float16 + int8, float16 + nf4;
#   4. bench/reference/speed_table.py: the Markdown table of the targets (speed_table.md).
# Results go to $OUT when set (the device tool brings back what is written there), else
# bench/results/. A failed run is logged and the rest carry on; the exit status says whether all ran.
# Settings (environment): QRUN_BENCH_MODEL (model folder, default /tmp/qwen05-random),
# QRUN_ASSETS_DIR (default .gpu-assets), PPL_WINDOWS (chunks of 2048 tokens; default 40, 0 = the
# whole file), REPEATS (default 3), HF_DTYPES (default "bfloat16 float16"),
# QRUN_VARIANTS (default "bfloat16 float16 int8 nf4").
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ASSETS=${QRUN_ASSETS_DIR:-.gpu-assets}
MODEL=${QRUN_BENCH_MODEL:-/tmp/qwen05-random}
RESULTS=${OUT:-bench/results}
PPL_WINDOWS=${PPL_WINDOWS:-40}
REPEATS=${REPEATS:-3}
HF_DTYPES=${HF_DTYPES:-bfloat16 float16}
QRUN_VARIANTS=${QRUN_VARIANTS:-bfloat16 float16 int8 nf4}
WIKI="$ASSETS/datasets/wikitext-2-raw/wiki.test.raw"
SUITE=datasets/prompt_suite_96.json
QRUN_BENCH=build-gpu/bin/qrun_bench
mkdir -p "$RESULTS"
# The libraries qrun_bench links (as bench/gpu/build.sh sets them), for a shell that did not source it.
P=${QRUN_GPU_PREFIX:-/opt/qrun-deps}
export LD_LIBRARY_PATH="$P/usr/lib/x86_64-linux-gnu:$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))'):${LD_LIBRARY_PATH:-}"
for f in "$WIKI" "$ASSETS/models/tiny-qwen2/tokenizer.json" "$SUITE" "$QRUN_BENCH"; do
  if [ ! -e "$f" ]; then
    echo "bench.sh: $f is missing; fix: run from the repository root after 'source bench/gpu/build.sh'" >&2
    exit 1
  fi
done
COMMON=(--wikitext "$WIKI" --suite "$SUITE" --ppl-ctx 2048 --ppl-batch 8 --ppl-windows "$PPL_WINDOWS"
        --decode-prompt 32 --decode-new 128 --suite-new 128 --repeats "$REPEATS")
failed=0

{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
  git rev-parse HEAD 2>/dev/null; git status --short 2>/dev/null | head -20; } > "$RESULTS/speed_machine.txt"

if [ ! -f "$MODEL/config.json" ]; then
  echo "== making $MODEL"
  python3 bench/reference/random_qwen05.py "$ASSETS/models/tiny-qwen2" "$MODEL" || exit 1
fi

for dtype in $HF_DTYPES; do
  echo "== transformers $dtype"
  if ! python3 bench/reference/hf_speed.py --model "$MODEL" --dtype "$dtype" --device cuda "${COMMON[@]}" \
      --json "$RESULTS/hf_$dtype.json" 2>&1 | tee "$RESULTS/hf_$dtype.log" | tail -5; then
    echo "transformers $dtype FAILED (see $RESULTS/hf_$dtype.log)"; failed=1
  fi
done

for variant in $QRUN_VARIANTS; do
  case "$variant" in
    bfloat16|float16) args=(--dtype "$variant") ;;
    int8|nf4) args=(--dtype float16 --transform "$variant") ;;  # issue 8: quantized vs the fp16 time
    *) echo "bench.sh: QRUN_VARIANTS: unknown variant $variant; fix: use bfloat16, float16, int8 or nf4" >&2; exit 1 ;;
  esac
  echo "== qrun $variant"
  if ! "$QRUN_BENCH" --model "$MODEL" --device cuda "${args[@]}" "${COMMON[@]}" \
      --json "$RESULTS/qrun_$variant.json" 2>&1 | tee "$RESULTS/qrun_$variant.log" | tail -5; then
    echo "qrun $variant FAILED (see $RESULTS/qrun_$variant.log)"; failed=1
  fi
done

echo "== table"
python3 bench/reference/speed_table.py "$RESULTS" "$RESULTS/speed_table.md" || failed=1
exit $failed
