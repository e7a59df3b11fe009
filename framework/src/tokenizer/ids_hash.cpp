// The token-id fingerprint: sha256 over the ids as little-endian int32.
#include "tokenizer/ids_hash.hpp"

#include <qrun/sha256.hpp>

namespace qrun::tok {

std::string token_ids_sha256(const std::vector<std::int64_t>& ids) {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (std::int64_t id : ids) {
    const auto v = static_cast<std::uint32_t>(static_cast<std::int32_t>(id));  // ids < 2^31
    for (int k = 0; k < 4; ++k) bytes += static_cast<char>((v >> (8 * k)) & 0xFF);
  }
  return sha256_hex(bytes);
}

}  // namespace qrun::tok
