// Tokens -> statements, following jinja2's parser (jinja2/parser.py): the same precedence
// (condexpr < or < and < not < compare < + - < ~ < * / // % < ** < unary; filters, tests, calls
// and subscripts bind tightest), the same statement forms. Tags a chat template has no use for
// (include, import, extends, block, do, ...) are refused by name.
#pragma once

#include "tokenizer/jinja/ast.hpp"
#include "tokenizer/jinja/lexer.hpp"

namespace qrun::jinja {

// Throws TemplateError (with the line) on a syntax error or an unsupported construct.
Body parse(std::vector<Token> tokens);

}  // namespace qrun::jinja
