#!/usr/bin/env bash
# Prints the fingerprint of the plugin contract: for every header under framework/include/qrun/
# (sorted by path, C locale), "<path>\n<sha256 of its bytes>\n", all hashed with SHA-256.
# framework/include/qrun/API_CONTRACT records it beside QRUN_PLUGIN_API_VERSION; tests/api fails
# when a header changes while the record is old. After changing the contract: bump
# QRUN_PLUGIN_API_VERSION in plugin.hpp (say why in its history), then run
#   bash framework/scripts/api-hash.sh --write
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/framework/include"
hash=$(find qrun -type f \( -name '*.hpp' -o -name '*.h' \) | LC_ALL=C sort | while read -r f; do
  printf '%s\n%s\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)"
done | sha256sum | cut -d' ' -f1)
version=$(sed -n 's/^#define QRUN_PLUGIN_API_VERSION \([0-9]*\)u.*/\1/p' qrun/plugin.hpp)
if [ "${1:-}" = "--write" ]; then
  printf 'api_version %s\nsha256 %s\n' "$version" "$hash" > "$root/framework/include/API_CONTRACT"
  echo "wrote framework/include/API_CONTRACT: api_version $version, sha256 $hash"
else
  echo "api_version $version"
  echo "sha256 $hash"
fi
