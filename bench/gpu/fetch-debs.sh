#!/usr/bin/env bash
# Run HERE (Debian 12): downloads the Debian packages qrun needs on the GPU machine, which cannot
# install packages, into .gpu-debs/ (ignored by git; name it in the device tool's `carry`).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu-debs && cd .gpu-debs
apt-get download libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0 \
  libboost-filesystem1.74-dev libboost-filesystem1.74.0 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 \
  libtomlplusplus-dev libtomlplusplus3 catch2 nlohmann-json3-dev libpcre2-dev libpcre2-8-0 \
  libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 \
  libicu-dev libicu72 icu-devtools
ls -1 | wc -l
