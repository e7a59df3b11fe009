// bytes_to_unicode: bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for themselves; the
// other 68 bytes take U+0100, U+0101, ... in byte order (openai/gpt-2 src/encoder.py).
#include "tokenizer/byte_level.hpp"

#include "tokenizer/utf8.hpp"

#include <array>
#include <cstdint>

namespace qrun::tok {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_utf8;
  std::array<int, 512> code_point_to_byte;  // -1: not in the alphabet (all code points are < 0x144)

  ByteLevelTables() {
    code_point_to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const int cp = self ? b : next++;
      append_utf8(byte_to_utf8[b], static_cast<char32_t>(cp));
      code_point_to_byte[cp] = b;
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

void byte_level_encode_append(std::string_view bytes, std::string& out) {
  const auto& t = tables();
  for (char c : bytes) out += t.byte_to_utf8[static_cast<unsigned char>(c)];
}

void byte_level_decode_append(std::string_view token, std::string& out) {
  const auto& t = tables();
  const std::size_t start = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    const char32_t cp = next_code_point(token, i);
    const int b = cp < t.code_point_to_byte.size() ? t.code_point_to_byte[cp] : -1;
    if (b < 0) {  // not a byte-level token: keep its text as it is
      out.resize(start);
      out.append(token);
      return;
    }
    out += static_cast<char>(b);
  }
}

}  // namespace qrun::tok
