// Python str semantics over UTF-8: Python indexes, strips and splits by code point, and maps case
// with the full Unicode mappings (ICU's root-locale mappings here).
#include "tokenizer/jinja/pystr.hpp"

#include "tokenizer/utf8.hpp"

#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/locid.h>

#include <algorithm>
#include <cstdio>

namespace qrun::jinja::pystr {

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) out += tok::next_code_point(s, i);
  return out;
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) tok::append_utf8(out, c);
  return out;
}

std::int64_t length(std::string_view s) {
  std::int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool is_space(char32_t c) { return tok::is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::u32string text = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  std::size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end && strip_it(text[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(text[end - 1])) --end;
  }
  return encode(std::u32string_view(text).substr(begin, end - begin));
}

namespace {

// Whitespace split (sep=None): runs of whitespace separate, none at either end.
std::vector<std::string> split_whitespace(std::string_view s, std::int64_t maxsplit, bool from_right) {
  std::u32string text = decode(s);
  if (from_right) std::reverse(text.begin(), text.end());
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i == text.size()) break;
    if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) == maxsplit) {
      std::size_t end = text.size();
      while (end > i && is_space(text[end - 1])) --end;
      parts.push_back(encode(std::u32string_view(text).substr(i, end - i)));
      break;
    }
    std::size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    parts.push_back(encode(std::u32string_view(text).substr(i, j - i)));
    i = j;
  }
  if (from_right) {
    std::reverse(parts.begin(), parts.end());
    for (std::string& p : parts) {
      std::u32string u = decode(p);
      std::reverse(u.begin(), u.end());
      p = encode(u);
    }
  }
  return parts;
}

}  // namespace

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, std::int64_t maxsplit,
                               bool from_right) {
  if (!sep) return split_whitespace(s, maxsplit, from_right);
  std::vector<std::string> parts;
  if (!from_right) {
    std::size_t start = 0;
    for (std::size_t at; (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) &&
                         (at = s.find(*sep, start)) != std::string_view::npos;) {
      parts.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  std::size_t end = s.size();
  while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
    if (end < sep->size()) break;
    const std::size_t at = s.rfind(*sep, end - sep->size());
    if (at == std::string_view::npos) break;
    parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
    end = at;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::string replace(std::string_view s, std::string_view old, std::string_view replacement, std::int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts the replacement between characters and at both ends
    std::int64_t done = 0;
    const std::u32string text = decode(s);
    for (char32_t c : text) {
      if (count < 0 || done < count) out += replacement, ++done;
      tok::append_utf8(out, c);
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  std::size_t start = 0;
  std::int64_t done = 0;
  for (std::size_t at; (count < 0 || done < count) && (at = s.find(old, start)) != std::string_view::npos; ++done) {
    out.append(s.substr(start, at - start));
    out.append(replacement);
    start = at + old.size();
  }
  out.append(s.substr(start));
  return out;
}

std::string upper(std::string_view s) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())))
      .toUpper(icu::Locale::getRoot())
      .toUTF8String(out);
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())))
      .toLower(icu::Locale::getRoot())
      .toUTF8String(out);
  return out;
}

namespace {
bool is_cased(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED) != 0;
}
std::string title_char(char32_t c) {
  std::string out;
  tok::append_utf8(out, static_cast<char32_t>(u_totitle(static_cast<UChar32>(c))));
  return out;
}
std::string one_char(char32_t c) {
  std::string out;
  tok::append_utf8(out, c);
  return out;
}
}  // namespace

// str.title(): a cased character after an uncased one gets its titlecase form, every other its lowercase.
std::string title(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  for (char32_t c : decode(s)) {
    out += previous_cased ? lower(one_char(c)) : title_char(c);
    previous_cased = is_cased(c);
  }
  return out;
}

// str.capitalize() (Python >= 3.8): the first character in titlecase, the rest lowercased.
std::string capitalize(std::string_view s) {
  const std::u32string text = decode(s);
  if (text.empty()) return {};
  return title_char(text[0]) + lower(encode(std::u32string_view(text).substr(1)));
}

std::int64_t find(std::string_view s, std::string_view sub, bool from_right) {
  const std::size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return length(s.substr(0, at));
}

std::int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return length(s) + 1;
  std::int64_t n = 0;
  for (std::size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

namespace {
// str.isprintable() of one non-ASCII character: not in Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs.
bool printable(char32_t c) {
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_SURROGATE: case U_PRIVATE_USE_CHAR: case U_UNASSIGNED:
    case U_LINE_SEPARATOR: case U_PARAGRAPH_SEPARATOR: case U_SPACE_SEPARATOR:
      return false;
    default:
      return true;
  }
}
}  // namespace

std::string repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  char buf[16];
  for (char32_t c : decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == U'\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x7F || printable(c)) {
      tok::append_utf8(out, c);
    } else {
      std::snprintf(buf, sizeof buf, c <= 0xFF ? "\\x%02x" : c <= 0xFFFF ? "\\u%04x" : "\\U%08x",
                    static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

}  // namespace qrun::jinja::pystr
