#!/usr/bin/env bash
# ASan + UBSan run of qrun's unit tests (issue 18, item 2), built in its own tree (never the
# shared build/) with GCC 12's sanitizers: clang-14 cannot compile <ATen/ATen.h> of libtorch 1.13 in
# C++20 mode against libstdc++ 12 (std::vector<c10::IValue> instantiated while IValue is incomplete),
# so the torch-linked code builds with g++ only (the libFuzzer harnesses avoid ATen instead). Usage:
#   tests/fuzz/sanitize.sh [BUILD_DIR] [TEST_TARGET...]
# Default BUILD_DIR /tmp/qrun-asan; default targets: the parser / input-handling tests (see
# DEFAULT_TARGETS), which are the code a hostile file reaches. Pass `all` for every test binary.
# Each test binary runs with its fast cases (`~[slow]~[.]`); ASan aborts on the first error and
# UBSan's checks are fatal (-fno-sanitize-recover), so a non-zero exit names the failing binary.
# Suppressions: tests/fuzz/sanitize.supp (LeakSanitizer; third-party code only, each justified).
# Prints per-binary time and the total; exits non-zero when any binary fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-/tmp/qrun-asan}
shift || true
DEFAULT_TARGETS=(test_safetensors test_tokenizer test_chat_template test_params test_experiment test_registry
                 test_report test_runner test_reliability)
targets=("$@")
((${#targets[@]})) || targets=("${DEFAULT_TARGETS[@]}")
jobs=${JOBS:-2}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
start=$(date +%s)

if [[ ! -f $build/build.ninja ]]; then
  CC=${CC:-gcc} CXX=${CXX:-g++} cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DQRUN_BUILD_BENCH=OFF >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 2; }
fi
if [[ ${targets[0]} == all ]]; then
  mapfile -t targets < <(grep -h "qrun_add_test(" "$root"/tests/*/CMakeLists.txt | sed 's/.*qrun_add_test(\([a-z_0-9]*\).*/\1/')
fi
# The test binaries' own dependencies (test plugins, the qrun CLI) come with them; PLUGINS names
# real plugins (e.g. "qrun_hf qrun_nf4") for tests that load them.
read -ra plugins <<<"${PLUGINS:-}"
nice -n "${NICE:-0}" cmake --build "$build" --target "${targets[@]}" "${plugins[@]}" -j"$jobs" >"$build.build.log" 2>&1 ||
  { tail -30 "$build.build.log"; exit 2; }
built=$(date +%s)
echo "build: $((built - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_odr_violation=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$root/tests/fuzz/sanitize.supp:print_suppressions=0
export QRUN_PLUGIN_PATH=$build/plugins QRUN_ASSETS=${QRUN_ASSETS:-/work/shared}
failed=()
cd "$root"
for t in "${targets[@]}"; do
  bin=$(find "$build/tests" -maxdepth 2 -type f -name "$t" | head -1)
  if [[ -z $bin ]]; then echo "$t: not built"; failed+=("$t"); continue; fi
  t0=$(date +%s)
  if "$bin" "~[slow]~[.]" >"$build/$t.log" 2>&1; then status=ok; else status=FAIL; failed+=("$t"); fi
  echo "$t: $status in $(($(date +%s) - t0)) s ($(tail -2 "$build/$t.log" | tr '\n' ' '))"
done
echo "total: $(($(date +%s) - start)) s (build $((built - start)) s); failed: ${failed[*]:-none}"
((${#failed[@]} == 0))
