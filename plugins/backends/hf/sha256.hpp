// SHA-256 of a file (FIPS 180-4), for the provenance recorded in ModelSource.
#pragma once

#include <qrun/error.hpp>

#include <filesystem>
#include <string>

namespace qrun::hf {

// Lower-case hex digest of the file's bytes.
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace qrun::hf
