// jinja2's built-in filters and tests (jinja2/filters.py, jinja2/tests.py) as chat templates use
// them, with transformers' tojson in place of jinja2's (json.dumps without HTML escaping, with
// indent/separators/sort_keys). A filter or test qrun does not implement is refused by name.
#include "tokenizer/jinja/builtins.hpp"
#include "tokenizer/jinja/pystr.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace qrun::jinja {
namespace {

// jinja2's make_attrgetter: "a.b.0" looks up item by item (getitem, digits as indexes).
Value attribute_of(const Value& item, const std::string& path) {
  Value v = item;
  for (const std::string& part : pystr::split(path, std::string("."), -1, false)) {
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = get_item(v, digits ? Value(static_cast<std::int64_t>(std::stoll(part))) : Value(part));
  }
  return v;
}

CallArgs rest_args(const CallArgs& a, std::size_t from) {
  CallArgs out;
  for (std::size_t i = from; i < a.positional.size(); ++i) out.positional.push_back(a.positional[i]);
  out.keyword = a.keyword;
  return out;
}

std::string required_str(const CallArgs& a, std::size_t i, const char* name, const char* filter) {
  const Value* v = arg(a, i, name);
  if (v == nullptr || !v->is_string()) throw TemplateError(std::string(filter) + ": argument '" + name + "' must be a string");
  return v->as_string();
}

// select/reject/selectattr/rejectattr: keep items whose (attribute's) test result is `keep`.
Value select_items(const Value& seq, const CallArgs& a, bool by_attr, bool keep) {
  if (!seq.truthy()) return Value::generator({});  // jinja2: `if value:` (None and [] give nothing)
  std::size_t at = 0;
  std::string attr;
  if (by_attr) attr = required_str(a, at++, "attribute", "selectattr");
  const Value* test = arg(a, at, "test_name");
  CallArgs test_args = rest_args(a, at + 1);
  test_args.keyword.clear();
  List out;
  for (const Value& item : iterate(seq)) {
    const Value v = by_attr ? attribute_of(item, attr) : item;
    bool ok = test == nullptr ? v.truthy() : apply_test(test->as_string(), v, test_args);
    if (ok == keep) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Value map_items(const Value& seq, CallArgs& a) {
  List out;
  if (!seq.truthy()) return Value::generator({});  // jinja2: `if value:` (None and [] give nothing)
  if (const Value* attr = arg(a, 99, "attribute")) {
    const Value fallback = arg_or(a, 99, "default", Value());
    for (const Value& item : iterate(seq)) {
      Value v = attribute_of(item, attr->as_string());
      out.push_back(v.is_undefined() && !fallback.is_undefined() ? fallback : v);
    }
    return Value::generator(std::move(out));
  }
  if (a.positional.empty()) throw TemplateError("map: a filter name or attribute= is required");
  const std::string name = a.positional[0].as_string();
  CallArgs filter_args = rest_args(a, 1);
  for (const Value& item : iterate(seq)) out.push_back(apply_filter(name, item, filter_args));
  return Value::generator(std::move(out));
}

// Sort key for sort/dictsort/unique/min/max: strings compare case-folded unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(pystr::lower(v.as_string())) : v;
}

Value sorted(const Value& seq, const CallArgs& a) {
  const bool reverse = arg_or(a, 0, "reverse", Value(false)).truthy();
  const bool cs = arg_or(a, 1, "case_sensitive", Value(false)).truthy();
  const Value attr = arg_or(a, 2, "attribute", Value::none());
  List items = iterate(seq);
  auto key = [&](const Value& v) { return sort_key(attr.is_string() ? attribute_of(v, attr.as_string()) : v, cs); };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? compare(key(y), key(x)) < 0 : compare(key(x), key(y)) < 0;
  });
  return Value::list(std::move(items));
}

Value dictsort(const Value& d, const CallArgs& a) {
  if (!d.is_dict()) throw TemplateError("dictsort: can only sort a mapping, got " + d.type_name());
  const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
  const Value by = arg_or(a, 1, "by", Value("key"));
  const bool reverse = arg_or(a, 2, "reverse", Value(false)).truthy();
  const int pos = by.is_string() && by.as_string() == "value" ? 1 : 0;
  List items;
  for (const auto& [k, v] : d.as_dict().items) items.push_back(Value::list({k, v}, true));
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const int c = compare(sort_key(x.as_list()[pos], cs), sort_key(y.as_list()[pos], cs));
    return reverse ? c > 0 : c < 0;
  });
  return Value::list(std::move(items));
}

std::string join(const Value& seq, const CallArgs& a) {
  const std::string sep = arg_or(a, 0, "d", Value("")).is_string() ? arg_or(a, 0, "d", Value("")).as_string() : "";
  const Value attr = arg_or(a, 1, "attribute", Value::none());
  std::string out;
  bool first = true;
  for (const Value& item : iterate(seq)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attr.is_string() ? attribute_of(item, attr.as_string()) : item);
  }
  return out;
}

// jinja2's indent: lines after the first get `width` (spaces or a string); blank lines only
// with blank=True; the first line only with first=True.
std::string indent(const std::string& s, const CallArgs& a) {
  const Value width = arg_or(a, 0, "width", Value(4));
  const std::string pad = width.is_string() ? width.as_string() : std::string(static_cast<std::size_t>(width.as_int()), ' ');
  const bool first = arg_or(a, 1, "first", Value(false)).truthy();
  const bool blank = arg_or(a, 2, "blank", Value(false)).truthy();
  CallArgs none;
  const Value lines_v = get_attr(Value(s + "\n"), "splitlines").as_callable().fn(none);
  const List& lines = lines_v.as_list();
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].as_string();
    if (i > 0) out += "\n";
    if (i > 0 && (blank || !line.empty())) out += pad;
    out += line;
  }
  return first ? pad + out : out;
}

// Python's round(x, n): correctly rounded, ties to even (what printf's exact rounding gives).
Value round_value(const Value& v, const CallArgs& a) {
  const std::int64_t precision = arg_or(a, 0, "precision", Value(0)).as_int();
  const std::string method = arg_or(a, 1, "method", Value("common")).as_string();
  if (!v.is_number()) throw TemplateError("round: expected a number, got " + v.type_name());
  if (v.is_int() && method == "common" && precision >= 0) return Value(v.as_int());  // round(int, n) is the int
  const double x = v.as_float();
  if (method == "ceil" || method == "floor") {
    const double scale = std::pow(10.0, static_cast<double>(precision));
    return Value((method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale)) / scale);
  }
  if (method != "common") throw TemplateError("round: method must be common, ceil or floor");
  if (!std::isfinite(x)) return Value(x);
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max<std::int64_t>(precision, 0)), x);
  return Value(std::strtod(buf, nullptr));
}

Value to_int(const Value& v, const CallArgs& a) {
  const Value fallback = arg_or(a, 0, "default", Value(0));
  if (v.is_int()) return Value(v.as_int());
  if (v.kind() == Value::Kind::floating) return std::isfinite(v.as_float()) ? Value(static_cast<std::int64_t>(v.as_float())) : fallback;
  if (!v.is_string()) return fallback;
  const std::string s = pystr::strip(v.as_string(), std::nullopt, true, true);
  char* end = nullptr;
  const long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && end == s.c_str() + s.size()) return Value(static_cast<std::int64_t>(i));
  const double d = std::strtod(s.c_str(), &end);  // jinja2: "42.23"|int is 42
  if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return Value(static_cast<std::int64_t>(d));
  return fallback;
}

Value to_float(const Value& v, const CallArgs& a) {
  const Value fallback = arg_or(a, 0, "default", Value(0.0));
  if (v.is_number()) return Value(v.as_float());
  if (!v.is_string()) return fallback;
  const std::string s = pystr::strip(v.as_string(), std::nullopt, true, true);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() ? Value(d) : fallback;
}

JsonStyle json_style(const CallArgs& a) {
  JsonStyle st;
  st.ensure_ascii = arg_or(a, 0, "ensure_ascii", Value(false)).truthy();
  const Value ind = arg_or(a, 1, "indent", Value::none());
  if (ind.is_string()) st.indent = ind.as_string();
  if (ind.is_int()) st.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(ind.as_int(), 0)), ' ');
  const Value sep = arg_or(a, 2, "separators", Value::none());
  if (sep.is_sequence() && sep.as_list().size() == 2) st.separators = {{to_str(sep.as_list()[0]), to_str(sep.as_list()[1])}};
  st.sort_keys = arg_or(a, 3, "sort_keys", Value(false)).truthy();
  return st;
}

// jinja2's title filter: words begin after whitespace, '-', '(', '{', '[' or '<'.
std::string title_filter(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (const Value& ch : iterate(Value(s))) {
    const std::string& c = ch.as_string();
    const char32_t cp = pystr::decode(c)[0];
    const bool sep = pystr::is_space(cp) || cp == U'-' || cp == U'(' || cp == U'{' || cp == U'[' || cp == U'<';
    out += sep ? c : word_start ? pystr::upper(c) : pystr::lower(c);
    word_start = sep;
  }
  return out;
}

Value extreme(const Value& seq, const CallArgs& a, bool want_max) {
  const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
  const Value attr = arg_or(a, 1, "attribute", Value::none());
  const List items = iterate(seq);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& v) { return sort_key(attr.is_string() ? attribute_of(v, attr.as_string()) : v, cs); };
  std::size_t best = 0;
  for (std::size_t i = 1; i < items.size(); ++i) {
    const int c = compare(key(items[i]), key(items[best]));
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

}  // namespace

// jinja2's soft_str filters (trim, upper, lower, capitalize, title, indent, string) keep Markup.
Value like(const Value& input, std::string out) {
  return input.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
}

Value apply_filter(const std::string& name, const Value& v, CallArgs& a) {
  if (name == "trim") {
    const Value chars = arg_or(a, 0, "chars", Value::none());
    return like(v, pystr::strip(to_str(v), chars.is_string() ? std::optional<std::string>(chars.as_string()) : std::nullopt, true, true));
  }
  if (name == "tojson") return Value(to_json(v, json_style(a)));
  if (name == "length" || name == "count") return Value(length(v));
  if (name == "string") return like(v, to_str(v));
  if (name == "safe") return Value::markup(to_str(v));
  if (name == "escape" || name == "e" || name == "forceescape") {
    return v.is_markup() && name != "forceescape" ? v : Value::markup(html_escape(to_str(v)));
  }
  if (name == "upper") return like(v, pystr::upper(to_str(v)));
  if (name == "lower") return like(v, pystr::lower(to_str(v)));
  if (name == "capitalize") return like(v, pystr::capitalize(to_str(v)));
  if (name == "title") return like(v, title_filter(to_str(v)));
  if (name == "default" || name == "d") {
    const bool boolean = arg_or(a, 1, "boolean", Value(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return arg_or(a, 0, "default_value", Value(""));
    return v;
  }
  if (name == "first" && v.is_generator()) {  // next(iter(value)): takes one item
    Generator& g = v.as_generator();
    if (g.next >= g.items.size()) return Value::undefined("No first item, sequence was empty.");
    return g.items[g.next++];
  }
  if (name == "last" && v.is_generator()) throw TemplateError("'" + v.type_name() + "' object is not reversible");
  if (name == "first" || name == "last") {
    const List items = iterate(v);
    if (items.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(iterate(v));
  if (name == "join") return Value(join(v, a));
  if (name == "items") {
    if (v.is_undefined()) return Value::generator({});
    if (!v.is_dict()) throw TemplateError("items: can only get item pairs from a mapping, got " + v.type_name());
    CallArgs none;
    return Value::generator(get_attr(v, "items").as_callable().fn(none).as_list());
  }
  if (name == "replace") {
    const Value count = arg_or(a, 2, "count", Value::none());
    return Value(pystr::replace(to_str(v), required_str(a, 0, "old", "replace"), required_str(a, 1, "new", "replace"),
                                count.is_int() ? count.as_int() : -1));
  }
  if (name == "select" || name == "reject") return select_items(v, a, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return select_items(v, a, true, name == "selectattr");
  if (name == "map") return map_items(v, a);
  if (name == "int") return to_int(v, a);
  if (name == "float") return to_float(v, a);
  if (name == "round") return round_value(v, a);
  if (name == "indent") return like(v, indent(to_str(v), a));
  if (name == "dictsort") return dictsort(v, a);
  if (name == "sort") return sorted(v, a);
  if (name == "reverse") {
    if (v.is_string()) {
      std::u32string u = pystr::decode(v.as_string());
      std::reverse(u.begin(), u.end());
      return Value(pystr::encode(u));
    }
    const bool reversible = v.is_sequence();  // reversed(list) is an iterator; anything else: list(value) reversed
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return reversible ? Value::generator(std::move(items), v.kind() == Value::Kind::list ? "list_reverseiterator" : "reversed")
                      : Value::list(std::move(items));
  }
  if (name == "unique") {
    const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
    List out, seen;
    for (const Value& item : iterate(v)) {
      const Value key = sort_key(item, cs);
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
        seen.push_back(key);
        out.push_back(item);
      }
    }
    return Value::generator(std::move(out));
  }
  if (name == "min" || name == "max") return extreme(v, a, name == "max");
  if (name == "sum") {
    const Value attr = arg_or(a, 0, "attribute", Value::none());
    Value total = arg_or(a, 1, "start", Value(0));
    for (const Value& item : iterate(v)) {
      const Value x = attr.is_string() ? attribute_of(item, attr.as_string()) : item;
      if (!x.is_number() || !total.is_number()) throw TemplateError("sum: items must be numbers");
      total = total.is_int() && x.is_int() ? Value(total.as_int() + x.as_int()) : Value(total.as_float() + x.as_float());
    }
    return total;
  }
  if (name == "abs") {
    if (!v.is_number()) throw TemplateError("bad operand type for abs(): '" + v.type_name() + "'");
    return v.kind() == Value::Kind::floating ? Value(std::fabs(v.as_float())) : Value(static_cast<std::int64_t>(std::llabs(v.as_int())));
  }
  if (name == "attr") {  // getattr only: a dict's keys are not its attributes
    const std::string attr = required_str(a, 0, "name", "attr");
    if (v.is_dict() && v.as_dict().find(Value(attr)) != nullptr) return Value::undefined("'dict object' has no attribute '" + attr + "'");
    return get_attr(v, attr);
  }
  throw TemplateError::unsupported("unsupported construct: filter '" + name + "'");
}

bool apply_test(const std::string& name, const Value& v, CallArgs& a) {
  auto other = [&]() -> const Value& {
    const Value* o = arg(a, 0, "other");
    if (o == nullptr) throw TemplateError("test '" + name + "' needs an argument");
    return *o;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == Value::Kind::integer;
  if (name == "float") return v.kind() == Value::Kind::floating;
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_callable();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() || v.is_generator();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
  if (name == "equalto" || name == "eq" || name == "==") return equals(v, other());
  if (name == "ne" || name == "!=") return !equals(v, other());
  if (name == "lt" || name == "lessthan" || name == "<") return compare(v, other()) < 0;
  if (name == "le" || name == "<=") return compare(v, other()) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(v, other()) > 0;
  if (name == "ge" || name == ">=") return compare(v, other()) >= 0;
  if (name == "in") {
    const Value& seq = other();
    if (seq.is_string()) return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
    if (seq.is_dict()) return seq.as_dict().find(v) != nullptr;
    for (const Value& x : iterate(seq)) {
      if (equals(x, v)) return true;
    }
    return false;
  }
  if (name == "sameas") {
    const Value& o = other();
    return v.kind() == o.kind() && equals(v, o);
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int()) throw TemplateError("test '" + name + "' needs an integer, got " + v.type_name());
    if (name == "divisibleby") {
      const Value& d = other();
      if (!d.is_int() || d.as_int() == 0) throw TemplateError("divisibleby needs a non-zero integer");
      return v.as_int() % d.as_int() == 0;
    }
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "lower") return to_str(v) == pystr::lower(to_str(v));
  if (name == "upper") return to_str(v) == pystr::upper(to_str(v));
  throw TemplateError::unsupported("unsupported construct: test '" + name + "'");
}

void add_jinja_globals(std::unordered_map<std::string, Value>& vars) {
  vars["range"] = Value::callable("range", [](CallArgs& a) -> Value {
    std::int64_t start = 0, stop = 0, step = 1;
    for (const Value& x : a.positional) {
      if (!x.is_int()) throw TemplateError("range: '" + x.type_name() + "' object cannot be interpreted as an integer");
    }
    if (a.positional.size() == 1) stop = a.positional[0].as_int();
    if (a.positional.size() >= 2) start = a.positional[0].as_int(), stop = a.positional[1].as_int();
    if (a.positional.size() == 3) step = a.positional[2].as_int();
    if (a.positional.empty() || a.positional.size() > 3) throw TemplateError("range expected 1 to 3 arguments");
    if (step == 0) throw TemplateError("range() arg 3 must not be zero");
    List out;
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100000) throw TemplateError("range too big (jinja2's sandbox allows 100000 items)");
      out.emplace_back(i);
    }
    return Value::list(std::move(out));
  });
  vars["dict"] = Value::callable("dict", [](CallArgs& a) -> Value {
    Dict d;
    if (!a.positional.empty() && a.positional[0].is_dict()) d = a.positional[0].as_dict();
    for (const auto& [k, v] : a.keyword) d.set(Value(k), v);
    return Value::dict(std::move(d));
  });
  vars["namespace"] = Value::callable("namespace", [](CallArgs& a) -> Value {
    Dict d;
    if (!a.positional.empty() && a.positional[0].is_dict()) d = a.positional[0].as_dict();
    for (const auto& [k, v] : a.keyword) d.set(Value(k), v);
    return Value::ns(std::move(d));
  });
  vars["joiner"] = Value::callable("joiner", [](CallArgs& a) -> Value {
    const std::string sep = to_str(arg_or(a, 0, "sep", Value(", ")));
    auto used = std::make_shared<bool>(false);
    return Value::callable("joiner", [sep, used](CallArgs&) -> Value {
      if (!*used) {
        *used = true;
        return Value("");
      }
      return Value(sep);
    });
  });
}

}  // namespace qrun::jinja
