// Template source -> tokens, as jinja2's lexer does it in transformers' environment
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False): newlines normalised to \n,
// one trailing newline dropped, {%- -%} {{- -}} {#- -#} strip whitespace, {%+ and +%} opt out,
// comments dropped, {% raw %} kept verbatim.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::jinja {

struct Token {
  enum class Type { data, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };
  Type type = Type::eof;
  std::string text;            // data text, name, decoded string literal, or operator
  std::int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

// Throws TemplateError (with the line) on an unclosed tag, string or comment, or an unknown character.
std::vector<Token> lex(std::string_view source);

}  // namespace qrun::jinja
