// jinja2's lexer (jinja2/lexer.py) for the default delimiters, reduced to what its regexes do in
// transformers' environment. The comments name the jinja2 rule each step follows.
#include "tokenizer/jinja/lexer.hpp"

#include "tokenizer/jinja/pystr.hpp"
#include "tokenizer/jinja/value.hpp"
#include "tokenizer/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace qrun::jinja {
namespace {

// jinja2: newline_re.split(source)[::2] joined by "\n", one trailing "" dropped.
std::string normalise_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool all_space(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (!pystr::is_space(tok::next_code_point(s, i))) return false;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const std::size_t tag = next_tag(pos_);
      std::string text = src_.substr(pos_, (tag == std::string::npos ? src_.size() : tag) - pos_);
      const int text_newlines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
      if (tag == std::string::npos) {
        emit_data(std::move(text), text_newlines);
        pos_ = src_.size();
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        text = pystr::strip(text, std::nullopt, false, true);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: whitespace between the line start and a block or comment tag goes.
        const std::size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if ((l_pos > 0 || line_starting_) && all_space(std::string_view(text).substr(l_pos))) text.resize(l_pos);
      }
      emit_data(std::move(text), text_newlines);
      pos_ = tag + 2 + (sign == '-' || sign == '+' ? 1 : 0);
      if (kind == '#') {
        comment(tag);
      } else if (kind == '%' && raw_begin()) {
        raw(tag);
      } else {
        tag_tokens(kind == '%', tag);
      }
    }
    tokens_.push_back(Token{Token::Type::eof, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  std::size_t next_tag(std::size_t from) const {
    for (std::size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void advance_to(std::size_t to) {
    for (std::size_t i = pos_; i < to; ++i) line_ += src_[i] == '\n';
    pos_ = to;
  }

  // Data text (already stripped); `newlines`: how many the source text held before stripping.
  void emit_data(std::string text, int newlines) {
    if (!text.empty()) tokens_.push_back(Token{Token::Type::data, std::move(text), 0, 0, line_});
    line_ += newlines;
  }

  // After a tag's closing delimiter at `end_at` (its length `len`): "-" strips all whitespace
  // that follows, "+" keeps it, a plain block or comment end eats one newline (trim_blocks).
  void close_tag(std::size_t end_at, std::size_t len, char sign, bool block_like) {
    advance_to(end_at + len);
    if (sign == '-') {
      std::size_t i = pos_;
      while (i < src_.size()) {
        std::size_t j = i;
        if (!pystr::is_space(tok::next_code_point(src_, j))) break;
        i = j;
      }
      advance_to(i);
    } else if (sign != '+' && block_like && pos_ < src_.size() && src_[pos_] == '\n') {
      advance_to(pos_ + 1);
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  void comment(std::size_t tag) {
    const std::size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) throw TemplateError("missing end of comment tag (#})", line_at(tag));
    const char sign = end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : '\0';
    close_tag(end, 2, sign, true);
  }

  // {% raw %} ... {% endraw %}: the text between is data, tags and all.
  bool raw_begin() {
    std::size_t i = pos_;
    while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
    if (src_.compare(i, 3, "raw") != 0 || (i + 3 < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[i + 3])) || src_[i + 3] == '_'))) return false;
    i += 3;
    while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
    const char sign = i < src_.size() && (src_[i] == '-' || src_[i] == '+') ? src_[i] : '\0';
    if (sign) ++i;
    if (src_.compare(i, 2, "%}") != 0) return false;
    close_tag(i, 2, sign, true);
    return true;
  }

  void raw(std::size_t tag) {
    for (std::size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 2)) {
      std::size_t i = at + 2;
      const char sign = i < src_.size() && (src_[i] == '-' || src_[i] == '+') ? src_[i] : '\0';
      if (sign) ++i;
      while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
      if (src_.compare(i, 6, "endraw") != 0) continue;
      i += 6;
      while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
      const char end_sign = i < src_.size() && (src_[i] == '-' || src_[i] == '+') ? src_[i] : '\0';
      if (end_sign) ++i;
      if (src_.compare(i, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, at - pos_);
      const int text_newlines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
      if (sign == '-') text = pystr::strip(text, std::nullopt, false, true);
      emit_data(std::move(text), text_newlines);
      pos_ = at;
      close_tag(i, 2, end_sign, true);
      return;
    }
    throw TemplateError("missing end of raw directive ({% endraw %})", line_at(tag));
  }

  int line_at(std::size_t offset) const {
    int line = 1;
    for (std::size_t i = 0; i < offset && i < src_.size(); ++i) line += src_[i] == '\n';
    return line;
  }

  void tag_tokens(bool block, std::size_t tag) {
    tokens_.push_back(Token{block ? Token::Type::block_begin : Token::Type::var_begin, "", 0, 0, line_});
    const char close = block ? '%' : '}';
    std::vector<char> balance;
    while (true) {
      while (pos_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[pos_]))) advance_to(pos_ + 1);
      if (pos_ >= src_.size()) {
        throw TemplateError(std::string("unexpected end of template: the tag opened here was never closed (") +
                                (block ? "%}" : "}}") + ")",
                            line_at(tag));
      }
      if (balance.empty()) {
        const char sign = src_[pos_] == '-' || src_[pos_] == '+' ? src_[pos_] : '\0';
        const std::size_t at = pos_ + (sign ? 1 : 0);
        if (at + 1 < src_.size() && src_[at] == close && src_[at + 1] == '}' && (sign != '+' || block)) {
          tokens_.push_back(Token{block ? Token::Type::block_end : Token::Type::var_end, "", 0, 0, line_});
          close_tag(at, 2, sign, block);
          return;
        }
      }
      expression_token(balance);
    }
  }

  void expression_token(std::vector<char>& balance) {
    const char c = src_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c))) return number();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = pos_;
      while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
      tokens_.push_back(Token{Token::Type::name, src_.substr(pos_, end - pos_), 0, 0, line_});
      advance_to(end);
      return;
    }
    if (c == '\'' || c == '"') return string_literal();
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                       "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", ";"};
    for (const char* op : kOps) {
      const std::size_t n = std::char_traits<char>::length(op);
      if (src_.compare(pos_, n, op) != 0) continue;
      if (n == 1 && (c == '(' || c == '[' || c == '{')) balance.push_back(c);
      if (n == 1 && (c == ')' || c == ']' || c == '}')) {
        const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
        if (balance.empty() || balance.back() != open) throw TemplateError(std::string("unexpected '") + c + "'", line_);
        balance.pop_back();
      }
      tokens_.push_back(Token{Token::Type::op, op, 0, 0, line_});
      advance_to(pos_ + n);
      return;
    }
    throw TemplateError(std::string("unexpected char '") + c + "'", line_);
  }

  // jinja2's integer and float rules: digits with "_" separators; a float has ".digits" and/or
  // an exponent. A number right after "." (x.0) stays an integer.
  void number() {
    std::size_t end = pos_;
    auto digits = [&] {
      while (end < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
    };
    digits();
    bool is_float = false;
    const bool after_dot = !tokens_.empty() && tokens_.back().type == Token::Type::op && tokens_.back().text == ".";
    if (!after_dot && end + 1 < src_.size() && src_[end] == '.' && std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
      is_float = true;
      ++end;
      digits();
    }
    if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      std::size_t e = end + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) {
        is_float = true;
        end = e;
        digits();
      }
    }
    std::string text = src_.substr(pos_, end - pos_);
    std::string clean;
    for (char ch : text) {
      if (ch != '_') clean += ch;
    }
    Token t{is_float ? Token::Type::floating : Token::Type::integer, text, 0, 0, line_};
    if (is_float) {
      t.float_value = std::strtod(clean.c_str(), nullptr);
    } else {
      t.int_value = std::strtoll(clean.c_str(), nullptr, 10);
    }
    tokens_.push_back(std::move(t));
    advance_to(end);
  }

  void string_literal();

  std::string src_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A string literal, decoded as jinja2 does (Python's "unicode-escape"): \n \t \r \\ \' \" \a \b
// \f \v, octal \ooo, \xHH, \uHHHH, \UHHHHHHHH, backslash-newline dropped; other escapes kept as written.
void Lexer::string_literal() {
  const char quote = src_[pos_];
  const int start_line = line_;
  std::string out;
  std::size_t i = pos_ + 1;
  while (true) {
    if (i >= src_.size()) throw TemplateError("unexpected end of template inside a string literal", start_line);
    const char c = src_[i];
    if (c == quote) break;
    if (c != '\\' || i + 1 >= src_.size()) {
      out += c;
      ++i;
      continue;
    }
    const char e = src_[i + 1];
    i += 2;
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\n': break;
      case 'x': case 'u': case 'U': {
        const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (std::size_t k = 0; k < n; ++k) {
          const int h = i + k < src_.size() ? hex_value(src_[i + k]) : -1;
          if (h < 0) throw TemplateError(std::string("truncated \\") + e + " escape in a string literal", line_);
          cp = cp * 16 + static_cast<char32_t>(h);
        }
        i += n;
        tok::append_utf8(out, cp);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          char32_t cp = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) cp = cp * 8 + static_cast<char32_t>(src_[i++] - '0');
          tok::append_utf8(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  tokens_.push_back(Token{Token::Type::string, std::move(out), 0, 0, start_line});
  advance_to(i + 1);
}

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(normalise_newlines(source)).run(); }

}  // namespace qrun::jinja
