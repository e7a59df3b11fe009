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
       -I"$root/framework/include" -I"$root/framework/src" -I"$root/plugins/quantizers/gguf")

core_safetensors=(framework/src/safetensors/safetensors_header.cpp)
core_gguf=(plugins/quantizers/gguf/gguf_file.cpp $(cd "$root" && ls plugins/quantizers/gguf/ggml_*.cpp))
core_jinja=($(cd "$root" && ls framework/src/tokenizer/jinja/*.cpp) framework/src/tokenizer/chat_template.cpp
            framework/src/tokenizer/json_access.cpp framework/src/tokenizer/utf8.cpp)
core_tokenizer=($(cd "$root" && ls framework/src/tokenizer/*.cpp framework/src/tokenizer/jinja/*.cpp) framework/src/common/sha256.cpp)

obj_of() { echo "$out/obj/$(echo "$1" | tr '/' '_').o"; }

compile() {  # compile SRC [extra flags...] if stale
  local src=$1 obj
  obj=$(obj_of "$src")
  if [[ ! -f $obj || $root/$src -nt $obj ]]; then
    echo "  CXX $src"
    "$CXX" "${flags[@]}" "${@:2}" -c "$root/$src" -o "$obj"
  fi
}

all_sources=$(printf '%s\n' "${core_safetensors[@]}" "${core_gguf[@]}" "${core_tokenizer[@]}" | sort -u)
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
echo "built in $out"
