#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang-14 (Debian: apt-get install clang-14 libclang-rt-14-dev
# libfuzzer-14-dev), -fsanitize=fuzzer,address,undefined, from just the sources each one needs (no
# torch, no CMake). Usage: tests/fuzz/build.sh [OUT_DIR] (default /tmp/qrun-fuzz); objects are
# reused while their source is older. Then e.g.:
#   OUT/fuzz_safetensors -dict=tests/fuzz/dict/safetensors.dict OUT/corpus/safetensors tests/fuzz/corpus/safetensors
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/qrun-fuzz}
jobs=${JOBS:-2}
CXX=${CXX:-clang++-14}
mkdir -p "$out/obj"
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -I"$root/framework/include" -I"$root/framework/src" -I"$root/plugins/quantizers/gguf"
       -I"$root/plugins/backends/hf" -I/usr/include/torch/csrc/api/include
       # toml++ as qrun uses it (CMake: the distribution's compiled libtomlplusplus.so, not header-only):
       # its parser is third-party code, outside the instrumentation. Header-only, UBSan stops on
       # toml++ 3.3.0's known TOML_UNREACHABLE for some non-ASCII code points (marzer/tomlplusplus#295,
       # fixed upstream by #305; regressions/experiment/toml_nonascii_unreachable.toml).
       -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1)

core_safetensors=(framework/src/safetensors/safetensors_header.cpp)
core_gguf=(plugins/quantizers/gguf/gguf_file.cpp $(cd "$root" && ls plugins/quantizers/gguf/ggml_*.cpp))
core_jinja=($(cd "$root" && ls framework/src/tokenizer/jinja/*.cpp) framework/src/tokenizer/chat_template.cpp
            framework/src/tokenizer/json_access.cpp framework/src/tokenizer/utf8.cpp)
core_tokenizer=($(cd "$root" && ls framework/src/tokenizer/*.cpp framework/src/tokenizer/jinja/*.cpp) framework/src/common/sha256.cpp)
# Harnesses whose code includes qrun/model.hpp (torch headers, but no ATen.h: see stub_linear_kinds.cpp).
core_hf_config=(plugins/backends/hf/hf_config.cpp plugins/backends/hf/rope_config.cpp)
core_common=(framework/src/common/dtype.cpp framework/src/common/enum_names.cpp framework/src/common/logging.cpp
             framework/src/common/nearest_name.cpp framework/src/common/params.cpp framework/src/common/progress.cpp
             framework/src/common/sha256.cpp)
core_results=(framework/src/results/declarations.cpp framework/src/results/results.cpp
              framework/src/results/results_json.cpp framework/src/results/spec_json.cpp "${core_common[@]}")
core_report=($(cd "$root" && ls framework/src/report/*.cpp) "${core_results[@]}")
core_experiment=($(cd "$root" && ls framework/src/experiment/*.cpp) framework/src/plan/plan.cpp
                 framework/src/registry/registry.cpp tests/fuzz/stub_linear_kinds.cpp "${core_results[@]}")
torch_libs=(-ltorch_cpu -lc10)

obj_of() { echo "$out/obj/$(echo "$1" | tr '/' '_').o"; }

compile() {  # compile SRC [extra flags...] if stale
  local src=$1 obj
  obj=$(obj_of "$src")
  if [[ ! -f $obj || $root/$src -nt $obj ]]; then
    echo "  CXX $src"
    "$CXX" "${flags[@]}" "${@:2}" -c "$root/$src" -o "$obj"
  fi
}

all_sources=$(printf '%s\n' "${core_safetensors[@]}" "${core_gguf[@]}" "${core_tokenizer[@]}" "${core_hf_config[@]}" \
  "${core_report[@]}" "${core_experiment[@]}" | sort -u)
export -f compile obj_of; export root out CXX
# Library sources: sanitizers and coverage; harness sources additionally get the fuzzer flag.
for s in $all_sources; do echo "$s"; done | xargs -P "$jobs" -I{} bash -c \
  "$(declare -p flags); compile {} -fsanitize=fuzzer-no-link"

link() {  # link NAME SOURCES... [-- libs]
  local name=$1; shift
  local objs=() libs=() in_libs=0
  for a in "$@"; do
    if [[ $a == -- ]]; then in_libs=1; continue; fi
    if ((in_libs)); then libs+=("$a"); else objs+=("$(obj_of "$a")"); fi
  done
  compile "tests/fuzz/$name.cpp" -fsanitize=fuzzer-no-link
  echo "  LD  $name"
  "$CXX" "${flags[@]}" -fsanitize=fuzzer "$(obj_of "tests/fuzz/$name.cpp")" "${objs[@]}" "${libs[@]}" -o "$out/$name"
}

link fuzz_safetensors "${core_safetensors[@]}"
link fuzz_gguf "${core_gguf[@]}"
link fuzz_chat_template "${core_jinja[@]}" -- -licuuc -licui18n
link fuzz_tokenizer "${core_tokenizer[@]}" -- -licuuc -licui18n -lpcre2-8
link fuzz_hf_config "${core_hf_config[@]}"
link fuzz_results "${core_report[@]}" -- "${torch_libs[@]}" -lspdlog -lfmt
link fuzz_experiment "${core_experiment[@]}" -- -rdynamic -ltomlplusplus -lboost_filesystem -ldl "${torch_libs[@]}" -lspdlog -lfmt
# fuzz_experiment's plugins: the TEST-ONLY ones, compiled by g++ (they include ATen.h), without
# sanitizers and without libqrun_core: their qrun symbols resolve to the harness's instrumented code
# (-rdynamic above), so there is one copy of the registry, params and schema code.
mkdir -p "$out/plugins"
if [[ ! -f $out/plugins/libqrun_test_plugins.so || $root/tests/runner/plugins/test_plugins.cpp -nt $out/plugins/libqrun_test_plugins.so ]]; then
  echo "  G++ libqrun_test_plugins.so"
  g++ -std=c++20 -O1 -fPIC -shared -fvisibility=hidden -I"$root/framework/include" -I"$root/framework/src" \
    -I/usr/include/torch/csrc/api/include "$root/tests/runner/plugins/test_plugins.cpp" \
    "$root/framework/src/model/dense_linear.cpp" -o "$out/plugins/libqrun_test_plugins.so" "${torch_libs[@]}"
fi
echo "built in $out"
