// safetensors header checks (hostile input, no torch). The rules quoted below are the format's
// own wording (https://github.com/huggingface/safetensors, README "Format" and its notes); where it
// is silent we do what the reference reader (safetensors crate, src/tensor.rs) does.
#include "safetensors/safetensors_header.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace qrun {

namespace {

// The largest header we accept; the reference implementation's MAX_HEADER_SIZE (safetensors
// crate, lib.rs) is 100 MB, which no real checkpoint approaches.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::size_t kMaxEchoedChars = 120;

struct DTypeBytes {
  std::string_view name;
  std::uint64_t bytes;
};
// Must list the same names as kSafetensorsDTypes (safetensors_dtypes.hpp, which needs torch).
// F8_E4M3 / F8_E5M2: the safetensors names of torch.float8_e4m3fn / float8_e5m2 (1 byte each).
constexpr std::array<DTypeBytes, 12> kDTypeBytes{{{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                   {"I32", 4}, {"I16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1},
                                                   {"F8_E4M3", 1}, {"F8_E5M2", 1}}};

const char* const kRedownload = "re-download or re-export the file; it is not a valid safetensors file";

Error corrupt(const std::string& label, std::string reason) {
  return Error{label, std::move(reason), kRedownload, ErrorCode::corrupt_input};
}

Error corrupt_tensor(const std::string& label, const std::string& name, std::string reason) {
  return Error{label + " tensor '" + clip_for_error(name) + "'", std::move(reason),
               "re-download or re-export the file; its header is inconsistent", ErrorCode::corrupt_input};
}

std::string range(std::uint64_t b, std::uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + ")";
}

// Reads a non-negative JSON integer that fits in uint64.
bool as_u64(const nlohmann::json& j, std::uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

Result<std::uint64_t> parse_shape(const std::string& label, const std::string& name, const nlohmann::json& sh,
                                  std::uint64_t elem_bytes, std::vector<std::int64_t>& shape) {
  // numel * element size, checked for overflow at every step.
  std::uint64_t bytes = elem_bytes;
  for (const auto& d : sh) {
    std::uint64_t dim = 0;
    if (!as_u64(d, dim) || dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return corrupt_tensor(label, name, "shape entry " + clip_for_error(d.dump()) + " is not a non-negative integer");
    if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim)
      return corrupt_tensor(label, name, "shape " + clip_for_error(sh.dump()) + " overflows 64-bit byte counts");
    bytes *= dim;
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  return bytes;
}

Result<SafetensorsHeaderEntry> parse_entry(const std::string& label, const std::string& name, const nlohmann::json& v) {
  if (!v.is_object()) return corrupt_tensor(label, name, "header entry is not a JSON object");
  for (const auto& [key, _] : v.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return corrupt_tensor(label, name, "unknown header field '" + clip_for_error(key) + "'");
  }
  SafetensorsHeaderEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return corrupt_tensor(label, name, "missing string field 'dtype'");
  e.dtype = dt->get<std::string>();
  const auto elem = safetensors_dtype_bytes(e.dtype);
  if (!elem)
    return Error{label + " tensor '" + clip_for_error(name) + "'", "unsupported dtype '" + clip_for_error(e.dtype) + "'",
                 "qrun reads F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3 and F8_E5M2; convert the tensor",
                 ErrorCode::unsupported};
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return corrupt_tensor(label, name, "missing array field 'shape'");
  auto bytes = parse_shape(label, name, *sh, *elem, e.shape);
  if (!bytes) return bytes.error();
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !as_u64((*off)[0], e.begin) ||
      !as_u64((*off)[1], e.end))
    return corrupt_tensor(label, name, "'data_offsets' must be two non-negative integers [begin, end]");
  if (e.end < e.begin)
    return corrupt_tensor(label, name, "data_offsets " + range(e.begin, e.end) + " end before begin");
  if (e.end - e.begin != *bytes)
    return corrupt_tensor(label, name,
                          "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " +
                              clip_for_error(sh->dump()) + " of " + e.dtype + " needs " + std::to_string(*bytes));
  return e;
}

// Rule (format notes): "The byte buffer needs to be entirely indexed, and cannot contain holes.
// This prevents the creation of polyglot files." As the reference reader (validate_offsets):
// sorted by offsets, each tensor starts where the previous one ends, and the last one ends at the
// end of the file. So trailing junk after the data section, holes and overlaps are all refused.
Result<void> check_layout(const std::string& label, const std::vector<SafetensorsHeaderEntry>& entries,
                          std::uint64_t data_size) {
  std::vector<const SafetensorsHeaderEntry*> order;
  order.reserve(entries.size());
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t cursor = 0;
  const SafetensorsHeaderEntry* prev = nullptr;
  for (const auto* e : order) {
    if (e->begin < cursor)
      return corrupt_tensor(label, e->name,
                            "bytes " + range(e->begin, e->end) + " overlap tensor '" + clip_for_error(prev->name) +
                                "' " + range(prev->begin, prev->end));
    if (e->begin > cursor)
      return corrupt_tensor(label, e->name,
                            "starts at byte " + std::to_string(e->begin) + " but the data section's bytes " +
                                range(cursor, e->begin) + " belong to no tensor (safetensors forbids holes)");
    cursor = e->end;
    prev = e;
  }
  if (cursor != data_size)
    return corrupt(label, "the data section has " + std::to_string(data_size - cursor) +
                              " trailing bytes after the last tensor (bytes " + range(cursor, data_size) +
                              " belong to no tensor; safetensors forbids them)");
  return {};
}

// Rules on the header bytes themselves: "a JSON UTF-8 string representing the header", which
// "MUST begin with a { character (0x7B)" and "MAY be trailing padded with whitespace (0x20)".
// A UTF-8 byte-order mark breaks the first rule; a NUL byte is neither JSON text nor padding
// (nlohmann's lexer would stop at it and silently ignore the rest, so it is checked here).
Result<void> check_header_bytes(const std::string& label, const char* text, std::size_t n) {
  if (n >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    return corrupt(label, "header starts with a UTF-8 byte-order mark; safetensors headers must begin with '{'");
  if (text[0] != '{')
    return corrupt(label, "header does not begin with '{' (byte 0 is " + std::to_string(static_cast<unsigned char>(text[0])) +
                              "); safetensors headers must");
  if (const void* nul = std::memchr(text, '\0', n); nul != nullptr)
    return corrupt(label, "header holds a NUL byte at offset " +
                              std::to_string(static_cast<const char*>(nul) - text) +
                              " (headers are JSON text padded only with spaces)");
  return {};
}

// Finds the first duplicated top-level key (a SAX pass: nlohmann's parse-with-callback is
// quadratic in the number of keys, since each ended object rescans its parent for discarded values;
// that made 50,000 tensors take minutes).
struct FirstDuplicateKey : nlohmann::json_sax<nlohmann::json> {
  int depth = 0;
  std::unordered_set<std::string> seen;
  std::optional<std::string> duplicate;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool key(string_t& k) override {
    if (depth == 1 && !seen.insert(k).second && !duplicate) duplicate = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

Result<nlohmann::json> parse_json(const std::string& label, const char* text, std::size_t n) {
  try {
    auto header = nlohmann::json::parse(text, text + n);
    if (!header.is_object()) return corrupt(label, "header is not a JSON object");
    // Rule (format notes): "Duplicate keys are disallowed." nlohmann keeps the last one silently.
    FirstDuplicateKey dup;
    nlohmann::json::sax_parse(text, text + n, &dup);
    if (dup.duplicate) return corrupt_tensor(label, *dup.duplicate, "appears twice in the header");
    return header;
  } catch (const nlohmann::json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 9: ..."; keep the position.
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return corrupt(label, "header is not valid JSON (" + clip_for_error(what) + ")");
  }
}

}  // namespace

std::optional<std::uint64_t> safetensors_dtype_bytes(std::string_view dtype) {
  for (const auto& d : kDTypeBytes)
    if (d.name == dtype) return d.bytes;
  return std::nullopt;
}

std::string clip_for_error(std::string_view text) {
  if (text.size() <= kMaxEchoedChars) return std::string(text);
  return std::string(text.substr(0, kMaxEchoedChars)) + "... (" + std::to_string(text.size()) + " bytes)";
}

Result<SafetensorsHeader> parse_safetensors_header(const std::string& label, const std::uint8_t* bytes,
                                                   std::size_t size) {
  if (size < 8)
    return corrupt(label, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > size - 8)
    return corrupt(label, "header length " + std::to_string(header_len) + " exceeds the file's remaining " +
                              std::to_string(size - 8) + " bytes (truncated or not safetensors)");
  if (header_len > kMaxHeaderBytes)
    return corrupt(label, "header length " + std::to_string(header_len) + " exceeds the " +
                              std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (header_len < 2) return corrupt(label, "header length " + std::to_string(header_len) + " is too small for JSON");
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (auto ok = check_header_bytes(label, text, header_len); !ok) return ok.error();
  auto header = parse_json(label, text, header_len);
  if (!header) return header.error();

  SafetensorsHeader out;
  out.data_offset = 8 + header_len;
  const std::uint64_t data_size = size - out.data_offset;
  out.entries.reserve(header->size());
  for (const auto& [key, value] : header->items()) {  // nlohmann::json objects iterate in key order
    if (key == "__metadata__") {
      // Rule: "A special key __metadata__ is allowed to contain free form string-to-string map."
      if (!value.is_object()) return corrupt(label, "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) return corrupt(label, "__metadata__['" + clip_for_error(mk) + "'] is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    auto entry = parse_entry(label, key, value);
    if (!entry) return entry.error();
    if (entry->end > data_size)
      return corrupt_tensor(label, key,
                            "data_offsets " + range(entry->begin, entry->end) + " run past the data section's " +
                                std::to_string(data_size) + " bytes (file truncated?)");
    out.entries.push_back(std::move(*entry));
  }
  if (!std::is_sorted(out.entries.begin(), out.entries.end(),
                      [](const auto& a, const auto& b) { return a.name < b.name; }))
    std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  if (auto ok = check_layout(label, out.entries, data_size); !ok) return ok.error();
  return out;
}

}  // namespace qrun
