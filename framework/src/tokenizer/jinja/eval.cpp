// The template interpreter. Scoping follows jinja2's compiled frames: the template body and `if`
// share one scope; each for-loop iteration, macro call, call-block caller, with, filter block and
// set block body starts a child scope, so a `set` inside a loop is gone after the iteration (which
// is why templates use namespace()).
#include "tokenizer/jinja/eval.hpp"

#include "tokenizer/jinja/builtins.hpp"

#include <cmath>

namespace qrun::jinja {

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
    const auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

namespace {

using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

constexpr int kMaxCallDepth = 256;  // macro recursion limit (Python's own limit is far deeper)

Value undefined_operand_check(const Value& v) {
  if (v.is_undefined()) throw TemplateError(v.undefined_message());
  return v;
}

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  throw TemplateError("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

Value repeat(const Value& seq, std::int64_t n) {
  if (seq.is_string()) {
    std::string out;
    for (std::int64_t i = 0; i < n; ++i) out += seq.as_string();
    return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  List out;
  for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.as_list().begin(), seq.as_list().end());
  return Value::list(std::move(out), seq.kind() == Value::Kind::tuple);
}

// Python's floor division and modulo (the result takes the divisor's sign).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  undefined_operand_check(a);
  undefined_operand_check(b);
  const bool ints = a.is_int() && b.is_int();
  if (a.is_number() && b.is_number()) {
    if (op == "+") return ints ? Value(a.as_int() + b.as_int()) : Value(a.as_float() + b.as_float());
    if (op == "-") return ints ? Value(a.as_int() - b.as_int()) : Value(a.as_float() - b.as_float());
    if (op == "*") return ints ? Value(a.as_int() * b.as_int()) : Value(a.as_float() * b.as_float());
    if ((op == "/" || op == "//" || op == "%") && b.as_float() == 0.0) throw TemplateError("division by zero");
    if (op == "/") return Value(a.as_float() / b.as_float());
    if (op == "//") return ints ? Value(floor_div(a.as_int(), b.as_int())) : Value(std::floor(a.as_float() / b.as_float()));
    if (op == "%") {
      if (ints) return Value(a.as_int() - floor_div(a.as_int(), b.as_int()) * b.as_int());
      double r = std::fmod(a.as_float(), b.as_float());
      if (r != 0 && ((r < 0) != (b.as_float() < 0))) r += b.as_float();
      return Value(r);
    }
    if (op == "**") {
      if (ints && b.as_int() >= 0) {
        std::int64_t r = 1;
        for (std::int64_t i = 0; i < b.as_int(); ++i) r *= a.as_int();
        return Value(r);
      }
      return Value(std::pow(a.as_float(), b.as_float()));
    }
  }
  if (op == "+") {
    if (a.is_markup() || b.is_markup()) {  // Markup.__add__ / __radd__ escape the plain str
      if (!a.is_string() || !b.is_string()) bad_operands(op, a, b);
      auto safe = [](const Value& v) { return v.is_markup() ? v.as_string() : html_escape(v.as_string()); };
      return Value::markup(safe(a) + safe(b));
    }
    if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
    if (a.is_sequence() && a.kind() == b.kind()) {
      List out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return Value::list(std::move(out), a.kind() == Value::Kind::tuple);
    }
    if (a.is_string()) throw TemplateError("can only concatenate str (not \"" + b.type_name() + "\") to str");
  }
  if (op == "*") {
    if ((a.is_string() || a.is_sequence()) && b.is_int()) return repeat(a, b.as_int());
    if (a.is_int() && (b.is_string() || b.is_sequence())) return repeat(b, a.as_int());
  }
  if (op == "%" && a.is_string()) throw TemplateError::unsupported("unsupported construct: printf-style string formatting ('...' % value)");
  bad_operands(op, a, b);
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) throw TemplateError("'in <string>' requires string as left operand, not " + item.type_name());
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return container.as_dict().find(item) != nullptr;
  if (container.is_ns()) throw TemplateError("argument of type 'Namespace' is not iterable");
  if (container.is_generator()) {  // consumes up to and including the match, as Python does
    Generator& g = container.as_generator();
    while (g.next < g.items.size()) {
      if (equals(g.items[g.next++], item)) return true;
    }
    return false;
  }
  for (const Value& v : iterate(container)) {
    if (equals(v, item)) return true;
  }
  return false;
}

bool compare_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "notin") return !contains(b, a);
  const int c = compare(a, b);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

class Renderer {
 public:
  enum class Flow { normal, break_loop, continue_loop };

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const StmtPtr& s : body) {
      const Flow f = exec_guarded(*s, scope, out);
      if (f != Flow::normal) return f;
    }
    return Flow::normal;
  }

  Value eval(const Expr& e, const ScopePtr& scope);

 private:
  Flow exec_guarded(const Stmt& s, const ScopePtr& scope, std::string& out) {
    try {
      return exec(s, scope, out);
    } catch (TemplateError& err) {
      if (err.line == 0) err.line = s.line;
      throw;
    }
  }

  Flow exec(const Stmt& s, const ScopePtr& scope, std::string& out);
  Flow exec_for(const Stmt& s, const ScopePtr& scope, std::string& out);
  void assign(const Target& t, const Value& v, const ScopePtr& scope);
  Value make_macro(std::shared_ptr<MacroDef> def, ScopePtr defined_in, std::optional<Value> caller_of_call);
  CallArgs eval_args(const Expr& e, std::size_t first, const ScopePtr& scope);
  Value apply_filters(const Expr& chain, Value v, const ScopePtr& scope);

  int depth_ = 0;
};

Renderer::Flow Renderer::exec(const Stmt& s, const ScopePtr& scope, std::string& out) {
  switch (s.kind) {
    case Stmt::Kind::text: out += s.text; return Flow::normal;
    case Stmt::Kind::output: out += to_str(eval(*s.expr, scope)); return Flow::normal;
    case Stmt::Kind::if_:
      return exec_body(eval(*s.cond, scope).truthy() ? s.body : s.else_body, scope, out);
    case Stmt::Kind::for_: return exec_for(s, scope, out);
    case Stmt::Kind::set: assign(s.targets[0], eval(*s.expr, scope), scope); return Flow::normal;
    case Stmt::Kind::set_block: {
      std::string text;
      exec_body(s.body, child(scope), text);
      Value v(std::move(text));
      if (!s.filters.empty()) v = apply_filters(*s.filters[0], v, scope);
      assign(s.targets[0], v, scope);
      return Flow::normal;
    }
    case Stmt::Kind::macro:
      scope->vars[s.macro->name] = make_macro(s.macro, scope, std::nullopt);
      return Flow::normal;
    case Stmt::Kind::call_block: {
      const Value caller = make_macro(s.macro, scope, std::nullopt);
      const Value callee = eval(*s.expr->items[0], scope);
      if (!callee.is_callable()) throw TemplateError("'call' needs a macro to call, got " + callee.type_name());
      CallArgs args = eval_args(*s.expr, 1, scope);
      args.keyword.emplace_back("caller", caller);
      out += to_str(callee.as_callable().fn(args));
      return Flow::normal;
    }
    case Stmt::Kind::filter_block: {
      std::string text;
      exec_body(s.body, child(scope), text);
      out += to_str(apply_filters(*s.filters[0], Value(std::move(text)), scope));
      return Flow::normal;
    }
    case Stmt::Kind::with: {
      ScopePtr inner = child(scope);
      for (std::size_t i = 0; i < s.targets.size(); ++i) assign(s.targets[i], eval(*s.values[i], scope), inner);
      return exec_body(s.body, inner, out);
    }
    case Stmt::Kind::generation: return exec_body(s.body, scope, out);
    case Stmt::Kind::break_: return Flow::break_loop;
    case Stmt::Kind::continue_: return Flow::continue_loop;
  }
  return Flow::normal;
}

namespace {

// Whether `v` holds the namespace `target` (values are shared: holding itself would be a reference
// cycle, leaked, and endless to print; found by tests/fuzz/fuzz_chat_template).
bool holds(const Value& v, const Namespace* target, int depth = 0) {
  if (depth > 200) return true;
  switch (v.kind()) {
    case Value::Kind::ns:
      if (&v.as_ns() == target) return true;
      for (const auto& kv : v.as_ns().attrs.items) if (holds(kv.second, target, depth + 1)) return true;
      return false;
    case Value::Kind::list:
    case Value::Kind::tuple:
      for (const Value& x : v.as_list()) if (holds(x, target, depth + 1)) return true;
      return false;
    case Value::Kind::dict:
      for (const auto& kv : v.as_dict().items) if (holds(kv.second, target, depth + 1)) return true;
      return false;
    default: return false;
  }
}

}  // namespace

void Renderer::assign(const Target& t, const Value& v, const ScopePtr& scope) {
  if (!t.ns_attr.empty()) {
    const Value* ns = scope->find(t.names[0]);
    if (ns == nullptr || !ns->is_ns()) {
      throw TemplateError("cannot assign attribute on non-namespace object '" + t.names[0] + "'");
    }
    if (holds(v, &ns->as_ns()))
      throw TemplateError("cannot assign namespace '" + t.names[0] + "' (or a value holding it) to its own attribute '" +
                          t.ns_attr + "'");
    ns->as_ns().attrs.set(Value(t.ns_attr), v);
    return;
  }
  if (!t.tuple) {
    scope->vars[t.names[0]] = v;
    return;
  }
  const List items = iterate(v);
  if (items.size() != t.names.size()) {
    throw TemplateError(items.size() > t.names.size()
                            ? "too many values to unpack (expected " + std::to_string(t.names.size()) + ")"
                            : "not enough values to unpack (expected " + std::to_string(t.names.size()) + ", got " +
                                  std::to_string(items.size()) + ")");
  }
  for (std::size_t i = 0; i < items.size(); ++i) scope->vars[t.names[i]] = items[i];
}

// The loop variable: index, index0, revindex, revindex0, first, last, length, previtem,
// nextitem, depth, depth0 and cycle(...).
Value loop_value(const List& items, std::size_t i) {
  const auto n = static_cast<std::int64_t>(items.size());
  const auto k = static_cast<std::int64_t>(i);
  Dict d;
  d.items = {{Value("index"), Value(k + 1)},    {Value("index0"), Value(k)},
             {Value("revindex"), Value(n - k)}, {Value("revindex0"), Value(n - k - 1)},
             {Value("first"), Value(k == 0)},   {Value("last"), Value(k == n - 1)},
             {Value("length"), Value(n)},       {Value("depth"), Value(1)},
             {Value("depth0"), Value(0)}};
  d.items.emplace_back(Value("previtem"), i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
  d.items.emplace_back(Value("nextitem"), i + 1 < items.size() ? items[i + 1] : Value::undefined("there is no next item"));
  d.items.emplace_back(Value("cycle"), Value::callable("loop.cycle", [k](CallArgs& args) -> Value {
    if (args.positional.empty()) throw TemplateError("no items for cycling given");
    return args.positional[static_cast<std::size_t>(k) % args.positional.size()];
  }));
  return Value::dict(std::move(d));
}

Renderer::Flow Renderer::exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
  const Value seq = eval(*s.expr, scope);
  if (seq.is_none() || seq.is_number() || seq.is_bool() || seq.is_callable() || seq.is_ns()) {
    throw TemplateError("'" + seq.type_name() + "' object is not iterable");
  }
  List items = iterate(seq);
  if (s.cond) {  // for x in xs if cond: the loop runs over the items that pass
    List kept;
    for (const Value& item : items) {
      ScopePtr probe = child(scope);
      assign(s.targets[0], item, probe);
      if (eval(*s.cond, probe).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.else_body, child(scope), out);
  for (std::size_t i = 0; i < items.size(); ++i) {
    ScopePtr iteration = child(scope);
    assign(s.targets[0], items[i], iteration);
    iteration->vars["loop"] = loop_value(items, i);
    if (exec_body(s.body, iteration, out) == Flow::break_loop) break;
  }
  return Flow::normal;
}

// A macro (or a call block's caller) as a callable: each call binds the parameters in a new
// scope under the one the macro was defined in, and returns what the body renders.
Value Renderer::make_macro(std::shared_ptr<MacroDef> def, ScopePtr defined_in, std::optional<Value>) {
  return Value::callable(def->name, [this, def, defined_in](CallArgs& args) -> Value {
    if (++depth_ > kMaxCallDepth) {
      depth_ = 0;
      throw TemplateError("macro '" + def->name + "' recursed deeper than " + std::to_string(kMaxCallDepth) + " calls");
    }
    ScopePtr scope = child(defined_in);
    const std::size_t n = def->params.size();
    const std::size_t first_default = n - def->defaults.size();
    List varargs;
    for (std::size_t i = 0; i < args.positional.size(); ++i) {
      if (i < n) {
        scope->vars[def->params[i]] = args.positional[i];
      } else {
        varargs.push_back(args.positional[i]);
      }
    }
    Dict kwargs;
    for (auto& [key, value] : args.keyword) {
      if (key == "caller") {
        scope->vars["caller"] = value;
        continue;
      }
      bool is_param = false;
      for (const std::string& p : def->params) is_param = is_param || p == key;
      if (is_param) {
        scope->vars[key] = value;
      } else {
        kwargs.set(Value(key), value);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (scope->vars.count(def->params[i]) != 0) continue;
      scope->vars[def->params[i]] = i >= first_default ? eval(*def->defaults[i - first_default], scope)
                                                      : Value::undefined("parameter '" + def->params[i] + "' was not provided");
    }
    scope->vars["varargs"] = Value::list(std::move(varargs), true);
    scope->vars["kwargs"] = Value::dict(std::move(kwargs));
    std::string text;
    exec_body(def->body, scope, text);
    --depth_;
    return Value(std::move(text));
  });
}

CallArgs Renderer::eval_args(const Expr& e, std::size_t first, const ScopePtr& scope) {
  CallArgs args;
  for (std::size_t i = first; i < e.items.size(); ++i) args.positional.push_back(eval(*e.items[i], scope));
  for (const auto& [key, value] : e.kwargs) args.keyword.emplace_back(key, eval(*value, scope));
  return args;
}

// A filter chain parsed with an empty innermost operand ({% filter %}, {% set x | f %}).
Value Renderer::apply_filters(const Expr& chain, Value v, const ScopePtr& scope) {
  if (chain.items[0]) v = apply_filters(*chain.items[0], std::move(v), scope);
  CallArgs args = eval_args(chain, 1, scope);
  return apply_filter(chain.name, v, args);
}

Value Renderer::eval(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case Expr::Kind::literal: return e.value;
    case Expr::Kind::name: {
      const Value* v = scope->find(e.name);
      return v != nullptr ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case Expr::Kind::list: case Expr::Kind::tuple: {
      List items;
      for (const ExprPtr& x : e.items) items.push_back(eval(*x, scope));
      return Value::list(std::move(items), e.kind == Expr::Kind::tuple);
    }
    case Expr::Kind::dict: {
      Dict d;
      for (std::size_t i = 0; i + 1 < e.items.size(); i += 2) d.set(eval(*e.items[i], scope), eval(*e.items[i + 1], scope));
      return Value::dict(std::move(d));
    }
    case Expr::Kind::getattr: return get_attr(eval(*e.items[0], scope), e.name);
    case Expr::Kind::getitem: return get_item(eval(*e.items[0], scope), eval(*e.items[1], scope));
    case Expr::Kind::slice: {
      auto bound = [&](std::size_t i) { return e.items[i] ? eval(*e.items[i], scope) : Value(); };
      return get_slice(eval(*e.items[0], scope), bound(1), bound(2), bound(3));
    }
    case Expr::Kind::call: {
      const Value callee = eval(*e.items[0], scope);
      if (callee.is_undefined()) throw TemplateError(callee.undefined_message());
      if (!callee.is_callable()) throw TemplateError("'" + callee.type_name() + "' object is not callable");
      CallArgs args = eval_args(e, 1, scope);
      return callee.as_callable().fn(args);
    }
    case Expr::Kind::filter: {
      const Value v = eval(*e.items[0], scope);
      CallArgs args = eval_args(e, 1, scope);
      return apply_filter(e.name, v, args);
    }
    case Expr::Kind::test: {
      const Value v = eval(*e.items[0], scope);
      CallArgs args = eval_args(e, 1, scope);
      return Value(apply_test(e.name, v, args));
    }
    case Expr::Kind::unary: {
      const Value v = eval(*e.items[0], scope);
      if (e.name == "not") return Value(!v.truthy());
      undefined_operand_check(v);
      if (!v.is_number()) throw TemplateError("bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
      if (e.name == "+") return v.is_bool() ? Value(v.as_int()) : v;
      return v.kind() == Value::Kind::floating ? Value(-v.as_float()) : Value(-v.as_int());
    }
    case Expr::Kind::binary: {
      const Value a = eval(*e.items[0], scope);
      if (e.name == "and") return a.truthy() ? eval(*e.items[1], scope) : a;
      if (e.name == "or") return a.truthy() ? a : eval(*e.items[1], scope);
      const Value b = eval(*e.items[1], scope);
      if (e.name == "~") return Value(to_str(a) + to_str(b));
      return arithmetic(e.name, a, b);
    }
    case Expr::Kind::compare: {
      Value left = eval(*e.items[0], scope);
      for (std::size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.items[i + 1], scope);
        if (!compare_op(e.ops[i], left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case Expr::Kind::condexpr:
      if (eval(*e.items[1], scope).truthy()) return eval(*e.items[0], scope);
      return e.items[2] ? eval(*e.items[2], scope) : Value::undefined("the conditional expression had no else");
  }
  return Value();
}

}  // namespace

std::string render(const Body& body, std::shared_ptr<Scope> globals) {
  Renderer r;
  std::string out;
  auto top = child(globals);
  r.exec_body(body, top, out);
  return out;
}

}  // namespace qrun::jinja
