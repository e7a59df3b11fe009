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
# The same, unpacked and trimmed (no static libraries, docs or man pages) into ../.gpu-deps.tar.xz,
# which bench/gpu/build.sh prefers: it leaves room in the device tool's 64 MiB for models.
tmp=$(mktemp -d)
for f in *.deb; do dpkg -x "$f" "$tmp"; done
find "$tmp" -name '*.a' ! -name 'libCatch2*' -delete  # Catch2's main library is static
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/lintian"
tar cJf ../.gpu-deps.tar.xz -C "$tmp" .
rm -rf "$tmp"
