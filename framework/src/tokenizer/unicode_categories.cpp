// General_Category tables of Unicode 16.0.0 (unicode_categories.inc, generated from the UCD by
// unicode_categories.mjs) and the group names of UAX #44 (L = Lu Ll Lt Lm Lo, ...).
#include "tokenizer/unicode_categories.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace qrun::tok {
namespace {

struct CategoryTable {
  const char* short_name;
  const char* long_name;
  const char32_t* pairs;
  std::size_t count;  // number of [first, last] pairs
};

#include "tokenizer/unicode_categories.inc"

// Groups of UAX #44 (PropertyValueAliases.txt): short name, long name, member leaf categories.
struct Group {
  const char* short_name;
  const char* long_name;
  const char* members;  // leaf short names, space separated
};
constexpr Group kGroups[] = {
    {"L", "Letter", "Lu Ll Lt Lm Lo"},
    {"LC", "Cased_Letter", "Lu Ll Lt"},
    {"M", "Mark", "Mn Mc Me"},
    {"N", "Number", "Nd Nl No"},
    {"P", "Punctuation", "Pc Pd Ps Pe Pi Pf Po"},
    {"S", "Symbol", "Sm Sc Sk So"},
    {"Z", "Separator", "Zs Zl Zp"},
    {"C", "Other", "Cc Cf Cs Co Cn"},
};

// Oniguruma's loose matching of property names: case, spaces, "-" and "_" ignored.
std::string loose(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != ' ' && c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

const CategoryTable* leaf(std::string_view loose_name) {
  for (const CategoryTable& t : kCategoryTables) {
    if (loose_name == loose(t.short_name) || loose_name == loose(t.long_name)) return &t;
  }
  return nullptr;
}

CodePointRanges merged(CodePointRanges r) {
  std::sort(r.begin(), r.end());
  CodePointRanges out;
  for (const auto& [a, b] : r) {
    if (!out.empty() && a <= out.back().second + 1) out.back().second = std::max(out.back().second, b);
    else out.emplace_back(a, b);
  }
  return out;
}

void append(const CategoryTable& t, CodePointRanges& out) {
  for (std::size_t i = 0; i < t.count; ++i) out.emplace_back(t.pairs[2 * i], t.pairs[2 * i + 1]);
}

}  // namespace

std::optional<CodePointRanges> general_category(std::string_view name) {
  const std::string n = loose(name);
  if (const CategoryTable* t = leaf(n)) {
    CodePointRanges out;
    append(*t, out);
    return out;
  }
  for (const Group& g : kGroups) {
    if (n != loose(g.short_name) && n != loose(g.long_name) && !(std::string_view(g.short_name) == "LC" && n == "l&")) {
      continue;
    }
    CodePointRanges out;
    std::string_view members = g.members;
    for (std::size_t pos = 0; pos < members.size(); pos += 3) append(*leaf(loose(members.substr(pos, 2))), out);
    return merged(std::move(out));
  }
  return std::nullopt;
}

CodePointRanges complement(const CodePointRanges& ranges) {
  CodePointRanges out;
  char32_t next = 0;
  for (const auto& [a, b] : ranges) {
    if (a > next) out.emplace_back(next, a - 1);
    next = b + 1;
  }
  if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
  return out;
}

std::string pcre2_class_body(const CodePointRanges& ranges) {
  std::string out;
  char buf[32];
  for (const auto& [a, b] : ranges) {
    if (a >= 0xD800 && b <= 0xDFFF) continue;  // surrogates cannot occur in UTF-8 text (nor be written for PCRE2)
    // A range that covers surrogates is split around them.
    auto put = [&](char32_t x, char32_t y) {
      if (x == y) std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(x));
      else std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", static_cast<unsigned>(x), static_cast<unsigned>(y));
      out += buf;
    };
    if (a < 0xD800 && b > 0xDFFF) {
      put(a, 0xD7FF);
      put(0xE000, b);
    } else if (a < 0xD800 && b >= 0xD800) {
      put(a, 0xD7FF);
    } else if (a <= 0xDFFF && b > 0xDFFF) {
      put(0xE000, b);
    } else {
      put(a, b);
    }
  }
  return out;
}

}  // namespace qrun::tok
