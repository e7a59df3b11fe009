// The parser's token stream and its expression half (jinja2/parser.py's parse_expression and
// below); parser.cpp adds the statements. Internal to tokenizer/jinja/.
#pragma once

#include "tokenizer/jinja/ast.hpp"
#include "tokenizer/jinja/lexer.hpp"

#include <initializer_list>
#include <string>
#include <vector>

namespace qrun::jinja {

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  ExprPtr expression(bool with_condexpr);
  // jinja2's parse_tuple: `a, b` is a tuple, one item is itself; `simplified` parses primaries only.
  ExprPtr parse_tuple_of(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                         bool explicit_parens);
  // `| name(args) | name ...`; with start_inline the first filter has no leading pipe ({% filter %}).
  ExprPtr filter_chain(ExprPtr e, bool start_inline);

 protected:
  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  Token next() { return i_ + 1 < t_.size() ? t_[i_++] : t_[i_]; }
  [[noreturn]] void fail(const std::string& what) const { throw TemplateError(what, cur().line); }
  [[noreturn]] void refuse(const std::string& what) const { throw TemplateError::unsupported(what, cur().line); }
  bool is_op(const char* op) const { return cur().type == Token::Type::op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Token::Type::name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Token::Type::name) fail("expected a name, got " + describe(cur()));
    return next().text;
  }
  void expect(Token::Type type, const char* what) {
    if (cur().type != type) fail(std::string("expected ") + what + ", got " + describe(cur()));
    next();
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Token::Type::eof: return "end of template";
      case Token::Type::block_end: return "end of statement block (%})";
      case Token::Type::var_end: return "end of print statement (}})";
      case Token::Type::string: return "a string";
      default: return "'" + t.text + "'";
    }
  }


  std::vector<Token> t_;
  std::size_t i_ = 0;

 private:
  bool tuple_end(std::initializer_list<const char*> extra_end) const;
  ExprPtr condexpr();
  ExprPtr binary(ExprPtr left, const std::string& op, ExprPtr right, int line);
  ExprPtr or_expr();
  ExprPtr and_expr();
  ExprPtr not_expr();
  ExprPtr compare();
  ExprPtr math1();
  ExprPtr concat();
  ExprPtr math2();
  ExprPtr power();
  ExprPtr unary(bool with_filter);
  ExprPtr primary();
  ExprPtr postfix(ExprPtr e);
  ExprPtr subscript(ExprPtr e);
  ExprPtr subscribed();
  ExprPtr filter_expr(ExprPtr e);
  ExprPtr test(ExprPtr e);
  void call_args(Expr& call);
};

ExprPtr make_expr(Expr::Kind kind, int line);

}  // namespace qrun::jinja
