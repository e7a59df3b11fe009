// jinja2's statements (jinja2/parser.py parse_statement and the parse_<tag> functions) over the
// expression parser of parse_expr.cpp.
#include "tokenizer/jinja/parser.hpp"

#include "tokenizer/jinja/parse_expr.hpp"

#include <algorithm>
#include <initializer_list>

namespace qrun::jinja {
namespace {

class Parser : public ExprParser {
 public:
  using ExprParser::ExprParser;

  Body template_body() {
    Body body = subparse({});
    if (cur().type != Token::Type::eof) fail("unexpected '" + cur().text + "'");
    return body;
  }

 private:
  Body subparse(std::initializer_list<const char*> end_tags) {
    Body body;
    while (cur().type != Token::Type::eof) {
      const Token tok = cur();
      if (tok.type == Token::Type::data) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::text;
        s->line = tok.line;
        s->text = tok.text;
        body.push_back(std::move(s));
        next();
      } else if (tok.type == Token::Type::var_begin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::output;
        s->line = tok.line;
        s->expr = parse_tuple(true, {});
        body.push_back(std::move(s));
        expect(Token::Type::var_end, "end of print statement (}})");
      } else if (tok.type == Token::Type::block_begin) {
        next();
        for (const char* end : end_tags) {
          if (is_name(end)) return body;
        }
        body.push_back(statement());
        expect(Token::Type::block_end, "end of statement block (%})");
      } else {
        fail("unexpected " + describe(tok));
      }
    }
    if (end_tags.size() > 0) {
      std::string names;
      for (const char* e : end_tags) names += std::string(names.empty() ? "" : " or ") + "'" + e + "'";
      fail("unexpected end of template: a block is not closed (looking for " + names + ")");
    }
    return body;
  }

  // jinja2's parse_statements: optional ':', '%}', then the body up to an end tag.
  Body statements(std::initializer_list<const char*> end_tags, bool drop_end) {
    skip_op(":");
    expect(Token::Type::block_end, "end of statement block (%})");
    Body body = subparse(end_tags);
    if (drop_end) next();
    return body;
  }

  StmtPtr new_stmt(Stmt::Kind kind, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = line;
    return s;
  }

  StmtPtr statement() {
    if (cur().type != Token::Type::name) fail("tag name expected, got " + describe(cur()));
    const std::string tag = cur().text;
    const int line = cur().line;
    if (tag == "if") return if_stmt();
    if (tag == "for") return for_stmt();
    if (tag == "set") return set_stmt();
    if (tag == "macro") return macro_stmt();
    if (tag == "call") return call_stmt();
    if (tag == "filter") {
      next();
      auto s = new_stmt(Stmt::Kind::filter_block, line);
      s->filters.push_back(filter_chain(nullptr, true));
      s->body = statements({"endfilter"}, true);
      return s;
    }
    if (tag == "with") return with_stmt();
    if (tag == "generation") {  // transformers' AssistantTracker extension
      next();
      auto s = new_stmt(Stmt::Kind::generation, line);
      s->body = statements({"endgeneration"}, true);
      return s;
    }
    if (tag == "break" || tag == "continue") {  // jinja2.ext.loopcontrols
      next();
      return new_stmt(tag == "break" ? Stmt::Kind::break_ : Stmt::Kind::continue_, line);
    }
    static const char* const kRefused[] = {"include", "import", "from", "extends", "block", "do", "autoescape", "print", "trans"};
    for (const char* r : kRefused) {
      if (tag == r) {
        refuse("unsupported construct '{% " + tag + " %}': chat templates are rendered standalone, with the tags "
             "transformers' environment offers (if, for, set, macro, call, filter, with, break, continue, generation)");
      }
    }
    refuse("unknown tag '" + tag + "' (unsupported construct)");
  }

  StmtPtr if_stmt() {
    const int line = next().line;
    auto s = new_stmt(Stmt::Kind::if_, line);
    s->cond = parse_tuple(false, {});
    s->body = statements({"elif", "else", "endif"}, false);
    const Token tag = next();
    if (tag.text == "elif") {
      --i_;  // parse the elif as a nested if
      t_[i_].text = "if";
      s->else_body.push_back(if_stmt());
    } else if (tag.text == "else") {
      s->else_body = statements({"endif"}, true);
    }
    return s;
  }

  StmtPtr for_stmt() {
    const int line = next().line;
    auto s = new_stmt(Stmt::Kind::for_, line);
    s->targets.push_back(assign_target(false, {"in"}));
    if (!skip_name("in")) fail("expected 'in' in the for statement, got " + describe(cur()));
    s->expr = parse_tuple(false, {"recursive"});
    if (skip_name("if")) s->cond = expression(true);
    if (is_name("recursive")) refuse("unsupported construct 'for ... recursive' (recursive loops)");
    s->body = statements({"endfor", "else"}, false);
    if (next().text == "else") s->else_body = statements({"endfor"}, true);
    return s;
  }

  StmtPtr set_stmt() {
    const int line = next().line;
    Target target = assign_target(true, {});
    if (skip_op("=")) {
      auto s = new_stmt(Stmt::Kind::set, line);
      s->targets.push_back(std::move(target));
      s->expr = parse_tuple(true, {});
      return s;
    }
    auto s = new_stmt(Stmt::Kind::set_block, line);
    s->targets.push_back(std::move(target));
    if (is_op("|")) s->filters.push_back(filter_chain(nullptr, false));
    s->body = statements({"endset"}, true);
    return s;
  }

  StmtPtr with_stmt() {
    const int line = next().line;
    auto s = new_stmt(Stmt::Kind::with, line);
    while (cur().type != Token::Type::block_end) {
      if (!s->targets.empty()) expect_op(",");
      s->targets.push_back(assign_target(false, {}));
      expect_op("=");
      s->values.push_back(expression(true));
    }
    s->body = statements({"endwith"}, true);
    return s;
  }

  // A macro's or call block's parameter list: (a, b=default, ...).
  void signature(MacroDef& m) {
    expect_op("(");
    while (!is_op(")")) {
      if (!m.params.empty()) expect_op(",");
      if (is_op(")")) break;
      m.params.push_back(expect_name());
      if (skip_op("=")) {
        m.defaults.push_back(expression(true));
      } else if (!m.defaults.empty()) {
        fail("non-default argument follows default argument");
      }
    }
    expect_op(")");
  }

  StmtPtr macro_stmt() {
    const int line = next().line;
    auto s = new_stmt(Stmt::Kind::macro, line);
    s->macro = std::make_shared<MacroDef>();
    s->macro->name = expect_name();
    signature(*s->macro);
    s->macro->body = statements({"endmacro"}, true);
    return s;
  }

  StmtPtr call_stmt() {
    const int line = next().line;
    auto s = new_stmt(Stmt::Kind::call_block, line);
    s->macro = std::make_shared<MacroDef>();
    s->macro->name = "caller";
    if (is_op("(")) signature(*s->macro);
    s->expr = expression(true);
    if (s->expr->kind != Expr::Kind::call) fail("expected a call after 'call'");
    s->macro->body = statements({"endcall"}, true);
    return s;
  }

  // jinja2's parse_assign_target: name, (a, b) / a, b, or with `with_ns` ns.attr.
  Target assign_target(bool with_ns, std::initializer_list<const char*> extra_end) {
    Target t;
    if (with_ns && cur().type == Token::Type::name && look().type == Token::Type::op && look().text == ".") {
      t.names.push_back(next().text);
      next();
      t.ns_attr = expect_name();
      return t;
    }
    ExprPtr e = parse_tuple_of(true, false, extra_end, false);
    auto add = [&](const Expr& x) {
      if (x.kind != Expr::Kind::name) fail("can't assign to this expression");
      t.names.push_back(x.name);
    };
    if (e->kind == Expr::Kind::tuple) {
      t.tuple = true;
      for (const ExprPtr& x : e->items) add(*x);
    } else {
      add(*e);
    }
    return t;
  }

  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end) {
    return parse_tuple_of(false, with_condexpr, extra_end, false);
  }
};

}  // namespace

Body parse(std::vector<Token> tokens) { return Parser(std::move(tokens)).template_body(); }

}  // namespace qrun::jinja
