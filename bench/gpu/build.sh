#!/usr/bin/env bash
# Run THERE (the GPU machine: CUDA, g++ 13, PyTorch 2.x): unpacks .gpu-debs/ into a prefix and
# (the GPU machine has no network, and Debian's libcurl needs libraries it lacks, so hub
# downloads are compiled out there) builds qrun against PyTorch's own libtorch (CUDA) into build-gpu/. Source it to keep
# LD_LIBRARY_PATH:  source bench/gpu/build.sh
# spdlog/fmt gotcha: the PyTorch wheel ships fmt 12 headers; Debian's spdlog needs fmt 9, so
# qrun_torch links spdlog before torch (framework/cmake/QrunDependencies.cmake).
set -eo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
P=${QRUN_GPU_PREFIX:-/opt/qrun-deps}
mkdir -p "$P"
# .gpu-deps.tar.xz (bench/gpu/fetch-debs.sh: the same packages unpacked, static libraries and docs
# dropped, 20 MB instead of 33) is used when present: the device tool carries 64 MiB at most.
if [ -f .gpu-deps.tar.xz ]; then tar xJf .gpu-deps.tar.xz -C "$P"; else for f in .gpu-debs/*.deb; do dpkg -x "$f" "$P"; done; fi
# pkg-config files from the .debs say prefix=/usr: the sysroot makes their -I/-L point into $P.
export PKG_CONFIG_SYSROOT_DIR="$P" PKG_CONFIG_LIBDIR="$P/usr/lib/x86_64-linux-gnu/pkgconfig:$P/usr/share/pkgconfig"
# Test discovery runs the test programs at build time: they need the unpacked libraries too.
export LD_LIBRARY_PATH="$P/usr/lib/x86_64-linux-gnu:$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))'):${LD_LIBRARY_PATH:-}"
TORCH_CMAKE=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_CMAKE;$P/usr" -DQRUN_ASSETS="$PWD/.gpu-assets" \
  -DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON ${QRUN_GPU_CMAKE_ARGS:-}
# QRUN_GPU_TARGETS: build only these targets (e.g. "qrun qrun_hf test_backend"); default all.
cmake --build build-gpu -j "$(nproc)" ${QRUN_GPU_TARGETS:+--target $QRUN_GPU_TARGETS}
