#!/usr/bin/env bash
# GPU smoke check, run THERE from the repository root (device tool): builds the backend and
# quantizers against PyTorch's libtorch (bench/gpu/build.sh), runs the hidden [gpu] tests of
# the backend and metrics, and prints qrun's decode speed on a random Qwen2.5-0.5B-shaped model
# with and without CUDA graphs. The full comparison with transformers is bench/gpu/bench.sh.
#   bash bench/gpu/smoke.sh            (outputs under $OUT, else /tmp/qrun-smoke)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/qrun-smoke}
mkdir -p "$out"
export QRUN_GPU_TARGETS=${QRUN_GPU_TARGETS:-"qrun qrun_hf qrun_int8 qrun_nf4 qrun_speed qrun_perplexity test_backend"}
# shellcheck disable=SC1091
source bench/gpu/build.sh >"$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
export QRUN_ASSETS=$PWD/.gpu-assets
build-gpu/tests/backend/test_backend "[gpu]" 2>&1 | grep -v "\[info\]" | tail -40
model=/tmp/qwen05-random
python3 -c "import sys;sys.path.insert(0,'bench/reference');from random_qwen05 import make_random_qwen05;make_random_qwen05('$QRUN_ASSETS/models/tiny-qwen2','$model')"
speed() {  # name, qrun eval args...
  local name=$1; shift
  build-gpu/bin/qrun eval --model "$model" --metric speed --device cuda --param prompt_tokens=32 \
    --param new_tokens=128 --param repetitions=3 --json "$@" >"$out/speed_$name.json" 2>"$out/speed_$name.err" ||
    { echo "$name failed:"; tail -5 "$out/speed_$name.err"; return; }
  python3 - "$out/speed_$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["result"]
print(sys.argv[2], {v["name"]: round(v["value"], 1) for v in r["values"]}, "shortest", r["details"].get("shortest_generation"))
PY
}
QRUN_CUDA_GRAPHS=1 speed bf16_graph --dtype bfloat16
QRUN_CUDA_GRAPHS=0 speed bf16_nograph --dtype bfloat16
speed fp16_nf4 --dtype float16 --transform nf4
speed fp16_int8 --dtype float16 --transform int8
# Where a decode step's time goes (when Nsight Systems is installed): kernel time summary.
if command -v nsys >/dev/null 2>&1; then
  nsys profile -o "$out/decode" --force-overwrite true build-gpu/bin/qrun eval --model "$model" --metric speed \
    --device cuda --dtype bfloat16 --param prompt_tokens=32 --param new_tokens=128 --param repetitions=1 >/dev/null 2>&1
  nsys stats --report cuda_gpu_kern_sum --format csv "$out/decode.nsys-rep" 2>/dev/null | head -25 | cut -c1-220
else
  echo "nsys not installed: no kernel profile"
fi
