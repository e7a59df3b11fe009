// SHA-256 (FIPS 180-4): the one implementation qrun uses for provenance (model and dataset
// files), tensor manifests and token-id fingerprints.
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace qrun {

// Lower-case hex digest of the bytes.
std::string sha256_hex(std::string_view bytes);
// Lower-case hex digest of the file's bytes, read in blocks; Error names the file.
Result<std::string> sha256_file(const std::filesystem::path& file);

}  // namespace qrun
