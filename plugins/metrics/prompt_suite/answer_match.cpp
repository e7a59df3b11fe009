// Matching rules for reference answers.
#include "answer_match.hpp"

#include <cmath>
#include <cstdlib>
#include <regex>

namespace qrun::prompt_suite {

namespace {

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Position of the first whole-word occurrence of normalised `phrase` in normalised `text`.
std::optional<std::size_t> find_phrase(const std::string& normalised_text, std::string_view phrase) {
  std::string needle = normalise_for_match(phrase);
  if (needle == " " || needle.empty()) return std::nullopt;  // a phrase of punctuation only
  std::size_t pos = normalised_text.find(needle);
  if (pos == std::string::npos) return std::nullopt;
  return pos;
}

// Non-ASCII punctuation and spaces that separate words like ASCII punctuation does: Latin-1
// U+0080-U+00BF (incl. NBSP, ¡, ¿, «, », °) and × ÷; General Punctuation U+2000-U+206F (dashes,
// curly quotes, ellipsis); CJK punctuation U+3000-U+303F; fullwidth ASCII punctuation.
bool is_separator(char32_t cp) {
  return (cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) ||
         (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
         (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65);
}

// Length of the UTF-8 sequence starting at s[i] and its code point; 1 and U+FFFD-like 0 for an
// invalid byte (kept as it is).
std::size_t utf8_at(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) { cp = 0; return 1; }
  cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 0x2) { cp = 0; return 1; }
    cp = (cp << 6) | (c & 0x3F);
  }
  return len;
}

}  // namespace

std::string normalise_for_match(std::string_view text) {
  std::string out = " ";
  auto space = [&] { if (out.back() != ' ') out += ' '; };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (is_ascii_alnum(c)) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
      else space();
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = utf8_at(text, i, cp);
    if (cp != 0 && is_separator(cp)) space();
    else out.append(text.substr(i, len));
    i += len;
  }
  space();
  return out;
}

std::vector<double> extract_numbers(std::string_view text) {
  std::vector<double> numbers;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (!is_digit(text[i])) { ++i; continue; }
    std::size_t start = i;
    // A number glued to a preceding letter ("v2", "B12") is part of a name, not a number.
    if (start > 0 && is_ascii_alnum(static_cast<unsigned char>(text[start - 1])) && !is_digit(text[start - 1])) {
      while (i < n && is_digit(text[i])) ++i;
      continue;
    }
    bool negative = start > 0 && text[start - 1] == '-' &&
                    (start < 2 || !is_ascii_alnum(static_cast<unsigned char>(text[start - 2])));
    std::string digits;
    while (i < n && is_digit(text[i])) digits += text[i++];
    // Thousands groups: ",ddd" not followed by another digit.
    while (i + 3 < n && text[i] == ',' && is_digit(text[i + 1]) && is_digit(text[i + 2]) && is_digit(text[i + 3]) &&
           (i + 4 >= n || !is_digit(text[i + 4]))) {
      digits.append(text.substr(i + 1, 3));
      i += 4;
    }
    if (i + 1 < n && text[i] == '.' && is_digit(text[i + 1])) {
      digits += '.';
      ++i;
      while (i < n && is_digit(text[i])) digits += text[i++];
    }
    double v = std::strtod(digits.c_str(), nullptr);
    numbers.push_back(negative ? -v : v);
  }
  return numbers;
}

bool answer_matches(const Reference& reference, std::string_view answer) {
  switch (reference.rule) {
    case Rule::number: {
      auto numbers = extract_numbers(answer);
      if (numbers.empty()) return false;
      auto close = [&](double x) { return std::fabs(x - reference.value) <= reference.tolerance; };
      return close(numbers.front()) || close(numbers.back());
    }
    case Rule::contains_any: {
      std::string text = normalise_for_match(answer);
      for (const auto& phrase : reference.any)
        if (find_phrase(text, phrase)) return true;
      return false;
    }
    case Rule::label: {
      std::string text = normalise_for_match(answer);
      std::optional<std::size_t> best;
      std::string best_label;
      for (const auto& label : reference.labels) {
        auto pos = find_phrase(text, label);
        if (pos && (!best || *pos < *best)) {
          best = pos;
          best_label = label;
        }
      }
      return best && normalise_for_match(best_label) == normalise_for_match(reference.label);
    }
    case Rule::regex: {
      auto flags = std::regex::ECMAScript;
      if (reference.ignore_case) flags |= std::regex::icase;
      std::regex re(reference.pattern, flags);  // validated when the suite was loaded
      return std::regex_search(answer.begin(), answer.end(), re);
    }
  }
  return false;
}

}  // namespace qrun::prompt_suite
