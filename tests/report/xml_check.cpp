#include "xml_check.hpp"

#include <cctype>
#include <set>

namespace qrun::test {

namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' || (c & 0x80); }
bool name_char(char c) {
  return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

struct Parser {
  const std::string& s;
  std::size_t i = 0;
  std::string err;

  bool fail(const std::string& why) {
    if (err.empty()) err = "offset " + std::to_string(i) + ": " + why;
    return false;
  }
  bool starts(const char* p) const { return s.compare(i, std::char_traits<char>::length(p), p) == 0; }
  void skip_ws() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool name(std::string& out) {
    if (i >= s.size() || !name_start(s[i])) return fail("expected a name");
    std::size_t b = i;
    while (i < s.size() && name_char(s[i])) ++i;
    out = s.substr(b, i - b);
    return true;
  }
  // '&' already at s[i]: one of the five predefined entities or a character reference.
  bool reference() {
    std::size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 12) return fail("'&' without a reference");
    std::string ref = s.substr(i + 1, semi - i - 1);
    static const std::set<std::string> predefined = {"amp", "lt", "gt", "quot", "apos"};
    bool ok = predefined.count(ref) > 0;
    if (!ok && ref.size() > 1 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string digits = ref.substr(hex ? 2 : 1);
      ok = !digits.empty();
      for (char c : digits) ok = ok && (hex ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c)));
    }
    if (!ok) return fail("unknown entity &" + ref + ";");
    i = semi + 1;
    return true;
  }
  bool text_until_lt() {
    while (i < s.size() && s[i] != '<') {
      if (s[i] == '&') {
        if (!reference()) return false;
      } else if (starts("]]>")) {
        return fail("']]>' in text");
      } else {
        ++i;
      }
    }
    return true;
  }
  bool skip_past(const char* end, const char* what) {
    std::size_t e = s.find(end, i);
    if (e == std::string::npos) return fail(std::string("unterminated ") + what);
    i = e + std::char_traits<char>::length(end);
    return true;
  }
  bool misc() {  // comments, processing instructions and whitespace outside the root
    for (;;) {
      skip_ws();
      if (starts("<!--")) {
        if (!skip_past("-->", "comment")) return false;
      } else if (starts("<?")) {
        if (!skip_past("?>", "processing instruction")) return false;
      } else {
        return true;
      }
    }
  }
  bool element(XmlSummary& sum, int depth) {
    if (depth > 256) return fail("elements nested too deep");
    ++i;  // '<'
    std::string tag;
    if (!name(tag)) return false;
    sum.elements.push_back(tag);
    std::set<std::string> attrs;
    for (;;) {
      std::size_t before = i;
      skip_ws();
      if (starts("/>")) {
        i += 2;
        return true;
      }
      if (i < s.size() && s[i] == '>') {
        ++i;
        break;
      }
      if (i == before) return fail("expected whitespace before an attribute in <" + tag + ">");
      std::string attr;
      if (!name(attr)) return false;
      if (!attrs.insert(attr).second) return fail("attribute " + attr + " repeated in <" + tag + ">");
      skip_ws();
      if (i >= s.size() || s[i] != '=') return fail("attribute " + attr + " without '='");
      ++i;
      skip_ws();
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return fail("attribute " + attr + " value not quoted");
      char q = s[i++];
      while (i < s.size() && s[i] != q) {
        if (s[i] == '<') return fail("'<' in the value of " + attr);
        if (s[i] == '&') {
          if (!reference()) return false;
        } else {
          ++i;
        }
      }
      if (i >= s.size()) return fail("unterminated value of " + attr);
      ++i;
    }
    for (;;) {  // content
      if (!text_until_lt()) return false;
      if (i >= s.size()) return fail("<" + tag + "> is never closed");
      if (starts("</")) {
        i += 2;
        std::string closing;
        if (!name(closing)) return false;
        if (closing != tag) return fail("</" + closing + "> closes <" + tag + ">");
        skip_ws();
        if (i >= s.size() || s[i] != '>') return fail("malformed end tag </" + closing);
        ++i;
        return true;
      }
      if (starts("<!--")) {
        if (!skip_past("-->", "comment")) return false;
      } else if (starts("<![CDATA[")) {
        if (!skip_past("]]>", "CDATA section")) return false;
      } else if (starts("<?")) {
        if (!skip_past("?>", "processing instruction")) return false;
      } else if (starts("<!")) {
        return fail("declaration inside an element");
      } else if (!element(sum, depth + 1)) {
        return false;
      }
    }
  }
};

}  // namespace

std::optional<XmlSummary> check_xml(const std::string& text, std::string& error) {
  Parser p{text};
  XmlSummary sum;
  if (p.starts("<?xml")) {
    if (!p.skip_past("?>", "XML declaration")) {
      error = p.err;
      return std::nullopt;
    }
  }
  if (!p.misc() || p.i >= text.size() || text[p.i] != '<' || !p.element(sum, 0) || !p.misc()) {
    if (p.err.empty()) p.fail("expected one root element");
    error = p.err;
    return std::nullopt;
  }
  if (p.i != text.size()) {
    p.fail("content after the root element");
    error = p.err;
    return std::nullopt;
  }
  sum.root = sum.elements.front();
  return sum;
}

}  // namespace qrun::test
