// Unicode 16.0 General_Category sets, as tokenizers' Oniguruma matches \p{...}: tokenizers 0.23
// classifies code points by Unicode 16.0, while the system PCRE2 (Debian 12: 10.42) knows
// Unicode 14, so its own \p{L} misses e.g. CJK Extension H or Kaktovik numerals. The regexes of
// pre-tokenizers therefore get these sets written out as explicit code point ranges.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qrun::tok {

using CodePointRanges = std::vector<std::pair<char32_t, char32_t>>;  // [first, last], sorted, disjoint

// The code points of a General_Category value or group, by short or long name as Oniguruma
// accepts them (case, spaces, "-" and "_" ignored): "L", "Letter", "Lu", "Uppercase_Letter", "N",
// "Nd", "P", "LC" / "L&" / "Cased_Letter", ... nullopt for other properties (scripts, ...).
std::optional<CodePointRanges> general_category(std::string_view name);

// The complement within U+0000..U+10FFFF.
CodePointRanges complement(const CodePointRanges& ranges);

// The body of a PCRE2 character class matching `ranges`: "\x{41}-\x{5a}\x{61}-\x{7a}...".
std::string pcre2_class_body(const CodePointRanges& ranges);

}  // namespace qrun::tok
