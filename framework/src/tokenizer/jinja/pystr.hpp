// Python's str operations on UTF-8 text, by code point, as the templates' string methods and
// filters call them (str.strip, str.split, str.upper, ..., repr).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::jinja::pystr {

std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
std::int64_t length(std::string_view s);  // code points

// str.isspace() of one character: Unicode White_Space plus U+001C..U+001F.
bool is_space(char32_t c);

// str.strip / lstrip / rstrip; `chars` std::nullopt strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep, maxsplit) and str.rsplit; sep std::nullopt splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, std::int64_t maxsplit,
                               bool from_right);
// str.replace(old, new, count) (count < 0: all).
std::string replace(std::string_view s, std::string_view old, std::string_view replacement, std::int64_t count);
// str.upper(), str.lower(), str.title(), str.capitalize(), str.swapcase() with full case mappings.
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);
std::string capitalize(std::string_view s);
// str.find / str.rfind / str.count, indexes in code points (-1 when absent).
std::int64_t find(std::string_view s, std::string_view sub, bool from_right);
std::int64_t count(std::string_view s, std::string_view sub);
// repr(str): quotes and escapes as Python writes them.
std::string repr(std::string_view s);

}  // namespace qrun::jinja::pystr
