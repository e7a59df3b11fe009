// A fingerprint of a token-id sequence, to compare qrun's ids with a reference computed elsewhere
// (e.g. HF tokenizers on the GPU machine) without storing the ids:
//   sha256 over the ids written as little-endian int32, in order; lowercase hex.
// Python equivalent: hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::tok {

std::string token_ids_sha256(const std::vector<std::int64_t>& ids);

}  // namespace qrun::tok
