#include <qrun/wikitext.hpp>

namespace qrun::wikitext {
namespace {

// Decodes the code point at s[i] (returns its length in bytes, 1 for invalid bytes).
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto byte = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b0 < 0x80) { cp = b0; return 1; }
  if ((b0 & 0xE0) == 0xC0 && cont(1)) { cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | byte(1); return 2; }
  if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (byte(1) << 6) | byte(2);
    return 3;
  }
  if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (byte(1) << 12) | (byte(2) << 6) | byte(3);
    return 4;
  }
  cp = 0xFFFD;
  return 1;
}

// Python's str.isspace(): bidirectional class WS, B or S, or general category Zs.
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Python's str.replace(from, to): non-overlapping, left to right.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// re.sub(r"O\s*([^C]*?)\s*C", r"O\1C", s) for single ASCII characters O and C: each O with a
// later C gets the whitespace just inside both stripped; matching resumes after that C.
std::string strip_inside_pairs(std::string_view s, char open, char close) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == open) {
      const std::size_t j = s.find(close, i + 1);
      if (j != std::string_view::npos) {
        out.push_back(open);
        out.append(strip(s.substr(i + 1, j - i - 1)));
        out.push_back(close);
        i = j + 1;
        continue;
      }
    }
    out.push_back(s[i]);
    ++i;
  }
  return out;
}

// re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the replacement is the literal text "/'[0-9]/".
std::string slash_quote_digit(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (i + 5 <= s.size() && s.compare(i, 3, "/' ") == 0 && s[i + 3] >= '0' && s[i + 3] <= '9' && s[i + 4] == '/') {
      out.append("/'[0-9]/");
      i += 5;
      continue;
    }
    out.push_back(s[i]);
    ++i;
  }
  return out;
}

}  // namespace

std::size_t space_at(std::string_view s, std::size_t i) {
  char32_t cp = 0;
  const std::size_t len = decode(s, i, cp);
  return is_space(cp) ? len : 0;
}

std::string_view strip(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size()) {
    const std::size_t k = space_at(s, b);
    if (k == 0) break;
    b += k;
  }
  std::size_t e = s.size();
  while (e > b) {
    // Step back to the start of the last code point.
    std::size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    const std::size_t k = space_at(s, start);
    if (k == 0 || start + k != e) break;
    e = start;
  }
  return s.substr(b, e - b);
}

std::string universal_newlines(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      out.push_back(raw[i]);
    }
  }
  return out;
}

std::vector<std::string> hf_rows(std::string_view text) {
  std::vector<std::string> rows;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    const std::string_view row = text.substr(pos, end - pos);
    rows.emplace_back(strip(row).empty() ? std::string() : std::string(row));
    pos = end;
  }
  return rows;
}

std::string hf_joined(std::string_view text) {
  std::string out;
  const auto rows = hf_rows(text);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) out += "\n\n";
    out += rows[i];
  }
  return out;
}

std::vector<std::string> documents(std::string_view text) {
  std::vector<std::string> pages;
  std::vector<std::string_view> lines;
  auto flush = [&](bool keep_empty) {
    std::string page;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i) page += '\n';
      page += lines[i];
    }
    if (keep_empty || !strip(page).empty()) pages.push_back(std::move(page));
    lines.clear();
  };
  std::size_t pos = 0;
  while (true) {  // str.split("\n"): n+1 pieces for n newlines
    const std::size_t nl = text.find('\n', pos);
    const std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    const std::string r = replace_all(replace_all(line, "= = =", "==="), "= =", "==");
    const std::string_view rline = strip(r);
    const bool heading = rline.substr(0, 2) == "= " && rline.size() >= 2 && rline.substr(rline.size() - 2) == " =";
    if (heading) flush(false);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  flush(true);
  return pages;
}

std::string detokenize(std::string_view page) {
  std::string s(page);
  // contractions
  s = replace_all(s, "s '", "s'");
  s = slash_quote_digit(s);
  // number separators
  s = replace_all(s, " @-@ ", "-");
  s = replace_all(s, " @,@ ", ",");
  s = replace_all(s, " @.@ ", ".");
  // punctuation
  s = replace_all(s, " : ", ": ");
  s = replace_all(s, " ; ", "; ");
  s = replace_all(s, " . ", ". ");
  s = replace_all(s, " ! ", "! ");
  s = replace_all(s, " ? ", "? ");
  s = replace_all(s, " , ", ", ");
  // double brackets
  s = strip_inside_pairs(s, '(', ')');
  s = strip_inside_pairs(s, '[', ']');
  s = strip_inside_pairs(s, '{', '}');
  s = strip_inside_pairs(s, '"', '"');
  s = strip_inside_pairs(s, '\'', '\'');
  // miscellaneous
  s = replace_all(s, "= = = =", "====");
  s = replace_all(s, "= = =", "===");
  s = replace_all(s, "= =", "==");
  s = replace_all(s, " \xC2\xB0 ", "\xC2\xB0");  // " ° " -> "°" (chr(176))
  s = replace_all(s, " \n", "\n");
  s = replace_all(s, "\n ", "\n");
  s = replace_all(s, " N ", " 1 ");
  s = replace_all(s, " 's", "'s");
  return s;
}

std::int64_t python_split_words(std::string_view page) {
  std::int64_t runs = 0;
  bool in_space = false;
  for (std::size_t i = 0; i < page.size();) {
    const std::size_t k = space_at(page, i);
    if (k) {
      if (!in_space) ++runs;
      in_space = true;
      i += k;
    } else {
      in_space = false;
      ++i;
    }
  }
  return runs + 1;
}

}  // namespace qrun::wikitext
