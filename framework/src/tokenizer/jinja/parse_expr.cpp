// jinja2's expression grammar: condexpr < or < and < not < compare < + - < ~ < * / // % < ** <
// unary; filters, tests, calls and subscripts bind tightest.
#include "tokenizer/jinja/parse_expr.hpp"

namespace qrun::jinja {

ExprPtr make_expr(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

bool ExprParser::tuple_end(std::initializer_list<const char*> extra_end) const {
  if (cur().type == Token::Type::var_end || cur().type == Token::Type::block_end || is_op(")")) return true;
  for (const char* e : extra_end) {
    if (is_name(e)) return true;
  }
  return false;
}

ExprPtr ExprParser::parse_tuple_of(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                       bool explicit_parens) {
  const int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (tuple_end(extra_end)) break;
    args.push_back(simplified ? primary() : expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) fail("expected an expression, got " + describe(cur()));
  }
  auto e = make_expr(Expr::Kind::tuple, line);
  e->items = std::move(args);
  return e;
}

ExprPtr ExprParser::expression(bool with_condexpr) { return with_condexpr ? condexpr() : or_expr(); }

ExprPtr ExprParser::condexpr() {
  ExprPtr e = or_expr();
  while (is_name("if")) {
    const int line = next().line;
    auto c = make_expr(Expr::Kind::condexpr, line);
    ExprPtr cond = or_expr();
    ExprPtr other = skip_name("else") ? condexpr() : nullptr;
    c->items.push_back(std::move(e));
    c->items.push_back(std::move(cond));
    c->items.push_back(std::move(other));
    e = std::move(c);
  }
  return e;
}

ExprPtr ExprParser::binary(ExprPtr left, const std::string& op, ExprPtr right, int line) {
  auto e = make_expr(Expr::Kind::binary, line);
  e->name = op;
  e->items.push_back(std::move(left));
  e->items.push_back(std::move(right));
  return e;
}

ExprPtr ExprParser::or_expr() {
  ExprPtr e = and_expr();
  while (is_name("or")) {
    const int line = next().line;
    e = binary(std::move(e), "or", and_expr(), line);
  }
  return e;
}

ExprPtr ExprParser::and_expr() {
  ExprPtr e = not_expr();
  while (is_name("and")) {
    const int line = next().line;
    e = binary(std::move(e), "and", not_expr(), line);
  }
  return e;
}

ExprPtr ExprParser::not_expr() {
  if (is_name("not")) {
    auto e = make_expr(Expr::Kind::unary, next().line);
    e->name = "not";
    e->items.push_back(not_expr());
    return e;
  }
  return compare();
}

ExprPtr ExprParser::compare() {
  const int line = cur().line;
  ExprPtr first = math1();
  auto e = make_expr(Expr::Kind::compare, line);
  e->items.push_back(std::move(first));
  while (true) {
    static const char* const kOps[] = {"==", "!=", "<", "<=", ">", ">="};
    std::string op;
    for (const char* o : kOps) {
      if (is_op(o)) op = o;
    }
    if (!op.empty()) {
      next();
    } else if (skip_name("in")) {
      op = "in";
    } else if (is_name("not") && look().type == Token::Type::name && look().text == "in") {
      next();
      next();
      op = "notin";
    } else {
      break;
    }
    e->ops.push_back(op);
    e->items.push_back(math1());
  }
  if (e->ops.empty()) return std::move(e->items[0]);
  return e;
}

ExprPtr ExprParser::math1() {
  ExprPtr e = concat();
  while (is_op("+") || is_op("-")) {
    const Token op = next();
    e = binary(std::move(e), op.text, concat(), op.line);
  }
  return e;
}

ExprPtr ExprParser::concat() {
  ExprPtr e = math2();
  while (is_op("~")) {
    const int line = next().line;
    e = binary(std::move(e), "~", math2(), line);
  }
  return e;
}

ExprPtr ExprParser::math2() {
  ExprPtr e = power();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token op = next();
    e = binary(std::move(e), op.text, power(), op.line);
  }
  return e;
}

ExprPtr ExprParser::power() {
  ExprPtr e = unary(true);
  while (is_op("**")) {
    const int line = next().line;
    e = binary(std::move(e), "**", unary(true), line);
  }
  return e;
}

ExprPtr ExprParser::unary(bool with_filter) {
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    const Token op = next();
    e = make_expr(Expr::Kind::unary, op.line);
    e->name = op.text;
    e->items.push_back(unary(false));
  } else {
    e = primary();
  }
  e = postfix(std::move(e));
  return with_filter ? filter_expr(std::move(e)) : std::move(e);
}

ExprPtr ExprParser::primary() {
  const Token tok = cur();
  if (tok.type == Token::Type::name) {
    next();
    auto e = make_expr(Expr::Kind::literal, tok.line);
    if (tok.text == "true" || tok.text == "True" || tok.text == "false" || tok.text == "False") {
      e->value = Value(tok.text == "true" || tok.text == "True");
    } else if (tok.text == "none" || tok.text == "None") {
      e->value = Value::none();
    } else {
      e->kind = Expr::Kind::name;
      e->name = tok.text;
    }
    return e;
  }
  if (tok.type == Token::Type::string) {
    std::string s;
    while (cur().type == Token::Type::string) s += next().text;  // adjacent literals concatenate
    auto e = make_expr(Expr::Kind::literal, tok.line);
    e->value = Value(std::move(s));
    return e;
  }
  if (tok.type == Token::Type::integer || tok.type == Token::Type::floating) {
    next();
    auto e = make_expr(Expr::Kind::literal, tok.line);
    e->value = tok.type == Token::Type::integer ? Value(tok.int_value) : Value(tok.float_value);
    return e;
  }
  if (skip_op("(")) {
    ExprPtr e = parse_tuple_of(false, true, {}, true);
    expect_op(")");
    return e;
  }
  if (skip_op("[")) {
    auto e = make_expr(Expr::Kind::list, tok.line);
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(expression(true));
    }
    expect_op("]");
    return e;
  }
  if (skip_op("{")) {
    auto e = make_expr(Expr::Kind::dict, tok.line);
    while (!is_op("}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("}")) break;
      e->items.push_back(expression(true));
      expect_op(":");
      e->items.push_back(expression(true));
    }
    expect_op("}");
    return e;
  }
  fail("unexpected " + describe(tok));
}

ExprPtr ExprParser::postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = subscript(std::move(e));
    } else if (is_op("(")) {
      auto c = make_expr(Expr::Kind::call, cur().line);
      c->items.push_back(std::move(e));
      call_args(*c);
      e = std::move(c);
    } else {
      return e;
    }
  }
}

ExprPtr ExprParser::subscript(ExprPtr e) {
  const Token tok = next();
  if (tok.text == ".") {
    const Token attr = next();
    if (attr.type == Token::Type::name) {
      auto g = make_expr(Expr::Kind::getattr, tok.line);
      g->name = attr.text;
      g->items.push_back(std::move(e));
      return g;
    }
    if (attr.type != Token::Type::integer) fail("expected name or number after '.'");
    auto g = make_expr(Expr::Kind::getitem, tok.line);
    g->items.push_back(std::move(e));
    auto idx = make_expr(Expr::Kind::literal, attr.line);
    idx->value = Value(attr.int_value);
    g->items.push_back(std::move(idx));
    return g;
  }
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(subscribed());
  }
  expect_op("]");
  if (args.size() == 1 && args[0]->kind == Expr::Kind::slice) {
    args[0]->items[0] = std::move(e);
    return std::move(args[0]);
  }
  auto g = make_expr(Expr::Kind::getitem, tok.line);
  g->items.push_back(std::move(e));
  if (args.size() == 1) {
    g->items.push_back(std::move(args[0]));
  } else {
    auto t = make_expr(Expr::Kind::tuple, tok.line);
    t->items = std::move(args);
    g->items.push_back(std::move(t));
  }
  return g;
}

// One subscript: an expression, or a slice [start]:[stop][:[step]] (items[0] is filled in later).
ExprPtr ExprParser::subscribed() {
  auto s = make_expr(Expr::Kind::slice, cur().line);
  s->items.push_back(nullptr);
  if (skip_op(":")) {
    s->items.push_back(nullptr);
  } else {
    ExprPtr e = expression(true);
    if (!skip_op(":")) return e;
    s->items.push_back(std::move(e));
  }
  const bool stop_omitted = is_op(":") || is_op("]") || is_op(",");
  s->items.push_back(stop_omitted ? nullptr : expression(true));
  if (skip_op(":") && !is_op("]") && !is_op(",")) {
    s->items.push_back(expression(true));
  } else {
    s->items.push_back(nullptr);
  }
  return s;
}

ExprPtr ExprParser::filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = filter_chain(std::move(e), false);
    } else if (is_name("is")) {
      e = test(std::move(e));
    } else if (is_op("(")) {
      auto c = make_expr(Expr::Kind::call, cur().line);
      c->items.push_back(std::move(e));
      call_args(*c);
      e = std::move(c);
    } else {
      return e;
    }
  }
}

// `| name(args) | name ...`; with start_inline the first filter has no leading pipe ({% filter %}).
ExprPtr ExprParser::filter_chain(ExprPtr e, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const int line = cur().line;
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    auto f = make_expr(Expr::Kind::filter, line);
    f->name = name;
    f->items.push_back(std::move(e));
    if (is_op("(")) call_args(*f);
    e = std::move(f);
  }
  return e;
}

ExprPtr ExprParser::test(ExprPtr e) {
  const int line = next().line;  // 'is'
  const bool negated = skip_name("not");
  std::string name = expect_name();
  while (skip_op(".")) name += "." + expect_name();
  auto t = make_expr(Expr::Kind::test, line);
  t->name = name;
  t->items.push_back(std::move(e));
  const bool arg_start = cur().type == Token::Type::name || cur().type == Token::Type::string ||
                         cur().type == Token::Type::integer || cur().type == Token::Type::floating ||
                         is_op("[") || is_op("{");
  if (is_op("(")) {
    call_args(*t);
  } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("you cannot chain multiple tests with is");
    t->items.push_back(postfix(primary()));
  }
  if (!negated) return t;
  auto n = make_expr(Expr::Kind::unary, line);
  n->name = "not";
  n->items.push_back(std::move(t));
  return n;
}

void ExprParser::call_args(Expr& call) {
  expect_op("(");
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*") || is_op("**")) refuse("unsupported construct: *args / **kwargs in a call");
    if (cur().type == Token::Type::name && look().type == Token::Type::op && look().text == "=") {
      std::string key = next().text;
      next();
      call.kwargs.emplace_back(std::move(key), expression(true));
    } else {
      if (!call.kwargs.empty()) fail("positional argument follows keyword argument");
      call.items.push_back(expression(true));
    }
    require_comma = true;
  }
  expect_op(")");
}

}  // namespace qrun::jinja
