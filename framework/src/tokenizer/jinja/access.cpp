// Attribute, item and slice access as jinja2's ImmutableSandboxedEnvironment does it, and the
// Python methods templates call on str, dict and list. Methods that would change a value
// (list.append, dict.update, ...) are refused, as the sandbox refuses them under transformers.
#include "tokenizer/jinja/builtins.hpp"
#include "tokenizer/jinja/pystr.hpp"
#include "tokenizer/utf8.hpp"

#include <unicode/uchar.h>

#include <algorithm>
#include <initializer_list>

namespace qrun::jinja {

const Value* arg(const CallArgs& args, std::size_t i, const char* name) {
  if (i < args.positional.size()) return &args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value arg_or(const CallArgs& args, std::size_t i, const char* name, Value fallback) {
  const Value* v = arg(args, i, name);
  return v != nullptr ? *v : std::move(fallback);
}

namespace {

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (s == n) return true;
  }
  return false;
}

const std::string& str_arg(const CallArgs& args, std::size_t i, const char* name, const char* method) {
  const Value* v = arg(args, i, name);
  if (v == nullptr || !v->is_string()) {
    throw TemplateError(std::string(method) + "() argument " + std::to_string(i + 1) + " must be str, not " +
                        (v ? v->type_name() : "missing"));
  }
  return v->as_string();
}

std::optional<std::string> optional_str(const CallArgs& args, std::size_t i, const char* name, const char* method) {
  const Value* v = arg(args, i, name);
  if (v == nullptr || v->is_none()) return std::nullopt;
  return str_arg(args, i, name, method);
}

std::int64_t int_arg(const CallArgs& args, std::size_t i, const char* name, std::int64_t fallback) {
  const Value* v = arg(args, i, name);
  if (v == nullptr || v->is_none()) return fallback;
  if (!v->is_int()) throw TemplateError(std::string("'") + v->type_name() + "' object cannot be interpreted as an integer");
  return v->as_int();
}

Value string_list(const std::vector<std::string>& parts) {
  List out;
  for (const std::string& p : parts) out.emplace_back(p);
  return Value::list(std::move(out));
}

// startswith/endswith take a str or a tuple of str.
bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw TemplateError("startswith/endswith first arg must be str or a tuple of str, not " + a.type_name());
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_sequence()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
  }
  return one(affix);
}

bool all_chars(const std::string& s, bool (*pred)(UChar32)) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (!pred(static_cast<UChar32>(tok::next_code_point(s, i)))) return false;
  }
  return true;
}

// str.splitlines(): \n \r \r\n \v \f \x1c \x1d \x1e \x85 \u2028 \u2029 end lines.
std::vector<std::string> splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> lines;
  const std::u32string u = pystr::decode(s);
  std::size_t start = 0;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const char32_t c = u[i];
    const bool brk = c == U'\n' || c == U'\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
                     c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    std::size_t end = i + 1;
    if (c == U'\r' && i + 1 < u.size() && u[i + 1] == U'\n') end = i + 2;
    lines.push_back(pystr::encode(std::u32string_view(u).substr(start, (keepends ? end : i) - start)));
    start = end;
    i = end - 1;
  }
  if (start < u.size()) lines.push_back(pystr::encode(std::u32string_view(u).substr(start)));
  return lines;
}

Value str_method(const std::string& s, const std::string& name, CallArgs& a) {
  const char* m = name.c_str();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return Value(pystr::strip(s, optional_str(a, 0, "chars", m), name != "rstrip", name != "lstrip"));
  }
  if (name == "startswith" || name == "endswith") {
    if (a.positional.size() > 1) throw TemplateError::unsupported("unsupported construct: str." + name + "() with start/end positions");
    const Value* affix = arg(a, 0, "prefix");
    if (affix == nullptr) throw TemplateError(name + "() takes at least 1 argument (0 given)");
    return Value(affix_match(s, *affix, name == "startswith"));
  }
  if (name == "split" || name == "rsplit") {
    return string_list(pystr::split(s, optional_str(a, 0, "sep", m), int_arg(a, 1, "maxsplit", -1), name == "rsplit"));
  }
  if (name == "upper") return Value(pystr::upper(s));
  if (name == "lower") return Value(pystr::lower(s));
  if (name == "title") return Value(pystr::title(s));
  if (name == "capitalize") return Value(pystr::capitalize(s));
  if (name == "replace") {
    return Value(pystr::replace(s, str_arg(a, 0, "old", m), str_arg(a, 1, "new", m), int_arg(a, 2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::int64_t at = pystr::find(s, str_arg(a, 0, "sub", m), name[0] == 'r');
    if (at < 0 && (name == "index" || name == "rindex")) throw TemplateError("substring not found");
    return Value(at);
  }
  if (name == "count") return Value(pystr::count(s, str_arg(a, 0, "sub", m)));
  if (name == "join") {
    std::string out;
    const Value* items = arg(a, 0, "iterable");
    if (items == nullptr) throw TemplateError("join() takes exactly one argument (0 given)");
    bool first = true;
    for (const Value& v : iterate(*items)) {
      if (!v.is_string()) throw TemplateError("sequence item: expected str instance, " + v.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += v.as_string();
    }
    return Value(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string& affix = str_arg(a, 0, "affix", m);
    if (!affix_match(s, Value(affix), name == "removeprefix")) return Value(s);
    return Value(name == "removeprefix" ? s.substr(affix.size()) : s.substr(0, s.size() - affix.size()));
  }
  if (name == "splitlines") {
    const Value keep = arg_or(a, 0, "keepends", Value(false));
    return string_list(splitlines(s, keep.truthy()));
  }
  if (name == "isdigit") return Value(all_chars(s, [](UChar32 c) -> bool { return u_isdigit(c) != 0; }));
  if (name == "isalpha") return Value(all_chars(s, [](UChar32 c) -> bool { return u_isalpha(c) != 0; }));
  if (name == "isalnum") return Value(all_chars(s, [](UChar32 c) -> bool { return u_isalnum(c) != 0; }));
  if (name == "isspace") return Value(all_chars(s, [](UChar32 c) -> bool { return pystr::is_space(static_cast<char32_t>(c)); }));
  if (name == "islower") return Value(pystr::lower(s) == s && pystr::upper(s) != s);
  if (name == "isupper") return Value(pystr::upper(s) == s && pystr::lower(s) != s);
  throw TemplateError::unsupported("unsupported construct: str." + name + "()");
}

bool is_str_method(const std::string& n) {
  return one_of(n, {"strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "upper", "lower",
                    "title", "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join",
                    "removeprefix", "removesuffix", "splitlines", "isdigit", "isalpha", "isalnum", "isspace",
                    "islower", "isupper"});
}

// Python str methods qrun does not implement: an error naming them beats a silent undefined.
bool is_other_str_method(const std::string& n) {
  return one_of(n, {"casefold", "center", "encode", "expandtabs", "format", "format_map", "isascii", "isdecimal",
                    "isidentifier", "isnumeric", "isprintable", "istitle", "ljust", "maketrans", "partition",
                    "rjust", "rpartition", "swapcase", "translate", "zfill"});
}

// markupsafe wraps these str methods so that Markup in gives Markup out (split & co. per item).
Value keep_markup(const Value& out, const std::string& method) {
  if (one_of(method, {"capitalize", "title", "lower", "upper", "replace", "lstrip", "rstrip", "strip",
                      "removeprefix", "removesuffix"})) {
    return Value::markup(out.as_string());
  }
  if (one_of(method, {"split", "rsplit", "splitlines"})) {
    List items;
    for (const Value& v : out.as_list()) items.push_back(Value::markup(v.as_string()));
    return Value::list(std::move(items));
  }
  return out;
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  const Dict& d = self.as_dict();
  if (name == "items") {
    List out;
    for (const auto& [k, v] : d.items) out.push_back(Value::list({k, v}, true));
    return Value::list(std::move(out));
  }
  if (name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : d.items) out.push_back(name == "keys" ? k : v);
    return Value::list(std::move(out));
  }
  if (name == "get") {
    const Value* key = arg(a, 0, "key");
    if (key == nullptr) throw TemplateError("get expected at least 1 argument, got 0");
    const Value* found = d.find(*key);
    return found != nullptr ? *found : arg_or(a, 1, "default", Value::none());
  }
  if (name == "copy") return self;
  throw TemplateError::unsupported("unsupported construct: dict." + name + "()");
}

Value list_method(const Value& self, const std::string& name, CallArgs& a) {
  const Value* x = arg(a, 0, "value");
  if (name == "copy") return self;
  if (x == nullptr) throw TemplateError(name + "() takes exactly one argument (0 given)");
  std::int64_t n = 0, i = 0;
  for (const Value& v : self.as_list()) {
    if (equals(v, *x)) {
      if (name == "index") return Value(i);
      ++n;
    }
    ++i;
  }
  if (name == "index") throw TemplateError(repr(*x) + " is not in list");
  return Value(n);
}

Value bound(const Value& self, const std::string& name, Value (*method)(const Value&, const std::string&, CallArgs&)) {
  return Value::callable(self.type_name() + "." + name, [self, name, method](CallArgs& a) { return method(self, name, a); });
}

Value unsafe(const Value& self, const std::string& name) {
  const std::string type = self.type_name();
  return Value::callable(type + "." + name, [type, name](CallArgs&) -> Value {
    throw TemplateError("access to attribute '" + name + "' of '" + type +
                        "' object is unsafe (transformers renders chat templates in jinja2's immutable sandbox, "
                        "which refuses to change a value)");
  });
}

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

// Python index -> position, or npos when out of range.
std::size_t python_index(std::int64_t i, std::size_t n) {
  const std::int64_t size = static_cast<std::int64_t>(n);
  if (i < 0) i += size;
  return i < 0 || i >= size ? std::string::npos : static_cast<std::size_t>(i);
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) throw TemplateError(obj.undefined_message());
  if (!name.empty() && name[0] == '_') return no_attribute(obj, name);  // the sandbox hides _private names
  switch (obj.kind()) {
    case Value::Kind::string:
      if (is_str_method(name)) {
        return bound(obj, name, [](const Value& s, const std::string& n, CallArgs& a) {
          Value out = str_method(s.as_string(), n, a);
          return s.is_markup() ? keep_markup(out, n) : out;
        });
      }
      if (is_other_str_method(name)) throw TemplateError::unsupported("unsupported construct: str." + name + "()");
      return no_attribute(obj, name);
    case Value::Kind::dict:
      if (one_of(name, {"items", "keys", "values", "get", "copy"})) return bound(obj, name, dict_method);
      if (one_of(name, {"pop", "popitem", "setdefault", "update", "clear"})) return unsafe(obj, name);
      if (const Value* v = obj.as_dict().find(Value(name))) return *v;
      return no_attribute(obj, name);
    case Value::Kind::list: case Value::Kind::tuple:
      if (one_of(name, {"index", "count", "copy"})) return bound(obj, name, list_method);
      if (one_of(name, {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"})) return unsafe(obj, name);
      return no_attribute(obj, name);
    case Value::Kind::ns:
      if (const Value* v = obj.as_ns().attrs.find(Value(name))) return *v;
      return no_attribute(obj, name);
    default: return no_attribute(obj, name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) throw TemplateError(obj.undefined_message());
  if (key.is_int() && (obj.is_sequence() || obj.is_string())) {
    if (obj.is_sequence()) {
      const std::size_t at = python_index(key.as_int(), obj.as_list().size());
      if (at != std::string::npos) return obj.as_list()[at];
    } else {
      const std::u32string u = pystr::decode(obj.as_string());
      const std::size_t at = python_index(key.as_int(), u.size());
      if (at != std::string::npos) {
        std::string ch = pystr::encode(std::u32string_view(u).substr(at, 1));
        return obj.is_markup() ? Value::markup(std::move(ch)) : Value(std::move(ch));
      }
    }
    return Value::undefined(obj.type_name() + " object has no element " + to_str(key));
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(key)) return *v;
  }
  if (obj.is_ns()) {
    if (const Value* v = obj.as_ns().attrs.find(key)) return *v;
  }
  if (key.is_string()) return get_attr(obj, key.as_string());  // jinja2 falls back to getattr
  return Value::undefined(obj.type_name() + " object has no element " + repr(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) throw TemplateError(obj.undefined_message());
  if (!obj.is_sequence() && !obj.is_string()) return Value::undefined(obj.type_name() + " object is not subscriptable");
  auto bound_of = [](const Value& v, const char* what) -> std::optional<std::int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) throw TemplateError(std::string("slice ") + what + " must be an integer or None");
    return v.as_int();
  };
  const std::int64_t st = bound_of(step, "step").value_or(1);
  if (st == 0) throw TemplateError("slice step cannot be zero");
  const std::u32string text = obj.is_string() ? pystr::decode(obj.as_string()) : std::u32string();
  const auto n = static_cast<std::int64_t>(obj.is_string() ? text.size() : obj.as_list().size());
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<std::int64_t> v, std::int64_t dflt) {
    if (!v) return dflt;
    std::int64_t x = *v;
    if (x < 0) x = std::max<std::int64_t>(x + n, st < 0 ? -1 : 0);
    else if (x >= n) x = st < 0 ? n - 1 : n;
    return x;
  };
  const std::int64_t lo = adjust(bound_of(start, "start"), st < 0 ? n - 1 : 0);
  const std::int64_t hi = adjust(bound_of(stop, "stop"), st < 0 ? -1 : n);
  std::vector<std::size_t> picks;
  for (std::int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) picks.push_back(static_cast<std::size_t>(i));
  if (obj.is_string()) {
    std::u32string out;
    for (std::size_t i : picks) out += text[i];
    return obj.is_markup() ? Value::markup(pystr::encode(out)) : Value(pystr::encode(out));
  }
  List out;
  for (std::size_t i : picks) out.push_back(obj.as_list()[i]);
  return Value::list(std::move(out), obj.kind() == Value::Kind::tuple);
}

}  // namespace qrun::jinja
