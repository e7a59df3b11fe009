#!/usr/bin/env bash
# The seed study (experiments/seed_study.toml: fp16 baseline, LLM.int8, NF4; WikiText-2 sliding
# perplexity and KL, the 96-prompt suite, size, speed) on a real-shape model, e.g. on the GPU machine:
#
#   bench/gpu/seed_study.sh MODEL_DIR ASSETS_DIR [OUTPUT_DIR] [QRUN ARGS...]
#
#   MODEL_DIR   Hugging Face folder (config.json, model.safetensors, tokenizer.json, ...).
#               With QRUN_MAKE_MODEL=qwen2.5-0.5b and no MODEL_DIR yet, the script first writes a
#               random model there with the exact Qwen2.5-0.5B configuration and the Qwen2.5
#               tokenizer of ASSETS_DIR/models/tiny-qwen2 (needs python3 with torch + transformers,
#               as on the GPU machine; bench/reference/random_qwen05.py, the model of the parity
#               and speed benchmarks). `qrun make-model`
#               only has its `tiny` preset (a toy tokenizer), so it cannot make this one.
#   ASSETS_DIR  the shared assets: datasets/wikitext-2-raw/wiki.test.raw (and models/tiny-qwen2).
#   OUTPUT_DIR  where results.json, report.md and the SVGs go; default "$OUT/seed_study".
#               Giving the folder of an interrupted run resumes it (finished cells are reused).
#   QRUN ARGS   passed on to `qrun run`, e.g. --set experiment.seed=1 or --fresh.
#
# Environment: QRUN (the qrun binary; default build-gpu/bin/qrun, else build/bin/qrun),
# QRUN_DEVICE (default cuda), QRUN_DTYPE (default float16, the experiment's own),
# QRUN_SEED_STUDY_QUICK=1 (CI-sized: 256 WikiText tokens, 3 categories x 1 prompt, 8 new
# tokens, a short speed run; used to check this script on CPU with tiny-qwen2:
#   QRUN_DEVICE=cpu QRUN_DTYPE=float32 QRUN_SEED_STUDY_QUICK=1 \
#     bench/gpu/seed_study.sh ../shared/models/tiny-qwen2 ../shared /tmp/seed_study_check
# Exit status: qrun's (non-zero when any cell failed; results.json then says complete: false
# and report.md opens with an INCOMPLETE RUN banner quoting the error).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [ $# -lt 2 ]; then
  echo "usage: $0 MODEL_DIR ASSETS_DIR [OUTPUT_DIR] [QRUN ARGS...]" >&2
  exit 2
fi
model=$(realpath -m "$1")
assets=$(realpath -m "$2")
shift 2
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  out=$(realpath -m "$1")
  shift
elif [ -n "${OUT:-}" ]; then
  out="$OUT/seed_study"
else
  echo "error: no output folder: give OUTPUT_DIR as the third argument or set OUT" >&2
  exit 2
fi

qrun=${QRUN:-}
if [ -z "$qrun" ]; then
  if [ -x "$root/build-gpu/bin/qrun" ]; then qrun="$root/build-gpu/bin/qrun"; else qrun="$root/build/bin/qrun"; fi
fi
device=${QRUN_DEVICE:-cuda}
dtype=${QRUN_DTYPE:-float16}
wiki="$assets/datasets/wikitext-2-raw/wiki.test.raw"
[ -x "$qrun" ] || { echo "error: $qrun: no qrun binary; fix: build it (bench/gpu/build.sh) or set QRUN" >&2; exit 1; }
[ -f "$wiki" ] || { echo "error: $wiki: WikiText-2 test split not found; fix: pass the assets folder that holds datasets/wikitext-2-raw/" >&2; exit 1; }

if [ ! -f "$model/config.json" ]; then
  if [ "${QRUN_MAKE_MODEL:-}" != "qwen2.5-0.5b" ]; then
    echo "error: $model/config.json: not a model folder; fix: pass a Hugging Face model folder, or set QRUN_MAKE_MODEL=qwen2.5-0.5b to write a random one there" >&2
    exit 1
  fi
  echo "writing a random Qwen2.5-0.5B-shaped model into $model" >&2
  python3 "$root/bench/reference/random_qwen05.py" "$assets/models/tiny-qwen2" "$model"
fi

quick=()
if [ "${QRUN_SEED_STUDY_QUICK:-0}" = 1 ]; then
  quick=(--set 'metrics[0].max_length=128' --set 'metrics[0].stride=64' --set 'metrics[0].max_tokens=256'
         --set 'metrics[1].max_length=128' --set 'metrics[1].stride=64' --set 'metrics[1].max_tokens=256'
         --set 'metrics[2].categories=["code_generation", "mathematical_reasoning", "question_answering"]'
         --set 'metrics[2].limit_per_category=1' --set 'metrics[2].max_new_tokens=8'
         --set 'metrics[4].prompt_tokens=16' --set 'metrics[4].new_tokens=4' --set 'metrics[4].repetitions=2')
fi

# On a GPU, larger batches than the experiment's CPU-sized defaults: 16 windows per forward for
# perplexity and KL, the whole prompt suite in one generate() call. Batch composition changes
# float rounding, not the procedure.
gpu=()
if [ "$device" != cpu ] && [ "${QRUN_SEED_STUDY_QUICK:-0}" != 1 ]; then
  gpu=(--set 'metrics[0].batch_size=16' --set 'metrics[1].batch_size=16' --set 'metrics[2].batch_size=96')
fi

cd "$root"
set -x
"$qrun" run experiments/seed_study.toml \
  --set "model.path=$model" --set "model.dtype=$dtype" --set "model.device=$device" \
  --set "datasets[0].path=$wiki" --set "datasets[1].path=$root/datasets/prompt_suite_96.json" \
  --set "report.title=Seed study: $(basename "$model") ($dtype on $device), FP16 vs LLM.int8 vs NF4" \
  ${quick[@]+"${quick[@]}"} ${gpu[@]+"${gpu[@]}"} --output "$out" "$@"
