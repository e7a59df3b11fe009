// The safetensors header and layout checks, without torch (so the libFuzzer harness in tests/fuzz
// builds it alone). SafetensorsFile::open maps the file and calls parse_safetensors_header.
#pragma once

#include <qrun/error.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

struct SafetensorsHeaderEntry {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // [begin, end) relative to the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsHeaderEntry> entries;  // sorted by name (find() binary-searches them)
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // 8 + header length
};

// Bytes per element of a dtype qrun reads, or nullopt.
std::optional<std::uint64_t> safetensors_dtype_bytes(std::string_view dtype);

// Validates the whole file image (`bytes`, `size` bytes: length prefix, header, data section).
// `label` names the file in errors. O(n log n) in the number of tensors.
Result<SafetensorsHeader> parse_safetensors_header(const std::string& label, const std::uint8_t* bytes,
                                                   std::size_t size);

// A name from a hostile file, cut to a length an error line can carry.
std::string clip_for_error(std::string_view text);

}  // namespace qrun
