// Lossy UTF-8 decoding with the "maximal subpart" rule (Unicode 15 §3.9, U+FFFD substitution),
// which is what Rust's String::from_utf8_lossy implements and tokenizers' decoders rely on; and
// Rust regex's \w from ICU's Unicode properties.
#include "tokenizer/utf8.hpp"

#include <unicode/uchar.h>

namespace qrun::tok {
namespace {

// Length of the valid sequence at s[i], or 0 with `consumed` set to the maximal invalid subpart.
std::size_t valid_sequence(std::string_view s, std::size_t i, std::size_t& consumed) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    consumed = 1;
    return 0;
  }
  std::size_t k = 1;
  for (; k < n && i + k < s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k == n) return n;
  consumed = k;
  return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0, consumed = 0;
  while (i < s.size()) {
    const std::size_t n = valid_sequence(s, i, consumed);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0, consumed = 0;
  while (i < bytes.size()) {
    const std::size_t n = valid_sequence(bytes, i, consumed);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      i += consumed;
    }
  }
  return out;
}

bool is_word_char(char32_t c) {
  // regex-syntax's perl_word(): Alphabetic + General_Category M + Nd + Pc + Join_Control (UTS #18 \w).
  const auto cp = static_cast<UChar32>(c);
  constexpr std::uint32_t kCategories = U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK;
  return u_hasBinaryProperty(cp, UCHAR_ALPHABETIC) || (U_GET_GC_MASK(cp) & kCategories) != 0 ||
         u_hasBinaryProperty(cp, UCHAR_JOIN_CONTROL);
}

}  // namespace qrun::tok
