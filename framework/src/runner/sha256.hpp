// SHA-256 of a file (FIPS 180-4), for dataset provenance in results.json.
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace qrun::runner {

// Lower-case hex digest of the bytes.
std::string sha256_hex(std::string_view bytes);
// Lower-case hex digest of the file's bytes, read in blocks; Error names the file.
Result<std::string> sha256_file(const std::filesystem::path& file);

}  // namespace qrun::runner
