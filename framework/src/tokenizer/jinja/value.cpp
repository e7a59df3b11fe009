// Python semantics of template values: str/repr, ==, ordering, iteration, len, and JSON as
// Python's json.dumps writes it (transformers' tojson filter).
#include "tokenizer/jinja/value.hpp"

#include "tokenizer/jinja/pystr.hpp"
#include "tokenizer/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace qrun::jinja {

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : items) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : items) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value Value::list(List items, bool tuple) {
  Value v(tuple ? Kind::tuple : Kind::list);
  v.list_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::dict(Dict d) {
  Value v(Kind::dict);
  v.dict_ = std::make_shared<const Dict>(std::move(d));
  return v;
}

Value Value::callable(std::string name, std::function<Value(CallArgs&)> fn) {
  Value v(Kind::callable);
  v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::generator(List items, std::string type) {
  Value v(Kind::generator);
  v.gen_ = std::make_shared<Generator>(Generator{std::move(type), std::move(items), 0});
  return v;
}

Value Value::ns(Dict attrs) {
  Value v(Kind::ns);
  v.ns_ = std::make_shared<Namespace>(Namespace{std::move(attrs)});
  return v;
}

std::string Value::undefined_message() const {
  if (!str_ || str_->empty()) return "a value is undefined";
  return *str_;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::undefined: case Kind::none: return false;
    case Kind::boolean: case Kind::integer: return int_ != 0;
    case Kind::floating: return float_ != 0.0;
    case Kind::string: return !str_->empty();
    case Kind::list: case Kind::tuple: return !list_->empty();
    case Kind::dict: return !dict_->items.empty();
    default: return true;
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::callable: return "function";
    case Kind::ns: return "Namespace";
    case Kind::generator: return gen_->type;
  }
  return "object";
}

// repr(float): the shortest digits that read back the same, written fixed when the decimal
// exponent is in [-4, 16), else as d.ddde±XX (CPython's float_repr_style 'short').
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const std::size_t e = sci.find('e');
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int decpt = exponent + 1;  // value = 0.<digits> x 10^decpt
  const int n = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= n) {
      out = digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (n > 1) out += "." + digits.substr(1);
    std::snprintf(buf, sizeof buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += buf;
  }
  return sign + out;
}

namespace {

std::string join_repr(const List& items, const char* open, const char* close, bool tuple) {
  std::string out = open;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += repr(items[i]);
  }
  if (tuple && items.size() == 1) out += ",";
  return out + close;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string repr(const Value& v) {
  // A value can hold itself ({% set ns.n = ns %}: found by tests/fuzz/fuzz_chat_template, a stack
  // overflow); Python prints "{...}" there, qrun refuses nesting deeper than 200 levels.
  thread_local int depth = 0;
  struct Guard {
    Guard() { ++depth; }
    ~Guard() { --depth; }
  } guard;
  if (depth > 200) throw TemplateError("a value nested more than 200 levels deep (one that contains itself?) cannot be written as text");
  switch (v.kind()) {
    case Value::Kind::string:
      return v.is_markup() ? "Markup(" + pystr::repr(v.as_string()) + ")" : pystr::repr(v.as_string());
    case Value::Kind::undefined: return "";
    case Value::Kind::list: return join_repr(v.as_list(), "[", "]", false);
    case Value::Kind::tuple: return join_repr(v.as_list(), "(", ")", true);
    case Value::Kind::dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, val] : v.as_dict().items) {
        if (!first) out += ", ";
        first = false;
        out += repr(k) + ": " + repr(val);
      }
      return out + "}";
    }
    case Value::Kind::ns: return "<Namespace " + repr(Value::dict(v.as_ns().attrs)) + ">";
    case Value::Kind::generator:
      throw TemplateError::unsupported("unsupported construct: writing a " + v.type_name() +
                                       " object as text (jinja2 writes its memory address); add | list");
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return "";
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return v.as_bool() ? "True" : "False";
    case Value::Kind::integer: return std::to_string(v.as_int());
    case Value::Kind::floating: return float_repr(v.as_float());
    case Value::Kind::string: return v.as_string();
    case Value::Kind::callable: return "<function " + v.as_callable().name + ">";
    default: return repr(v);
  }
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::floating || b.kind() == Value::Kind::floating) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::undefined: case Value::Kind::none: return true;
    case Value::Kind::string: return a.as_string() == b.as_string();
    case Value::Kind::list: case Value::Kind::tuple: {
      const List &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::dict: {
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    case Value::Kind::callable: return &a.as_callable() == &b.as_callable();
    case Value::Kind::ns: return &a.as_ns() == &b.as_ns();
    case Value::Kind::generator: return &a.as_generator() == &b.as_generator();
    default: return false;
  }
}

int compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::floating || b.kind() == Value::Kind::floating) {
      return a.as_float() < b.as_float() ? -1 : a.as_float() > b.as_float() ? 1 : 0;
    }
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() == b.as_string() ? 0 : 1;
  if (a.kind() == b.kind() && a.is_sequence()) {
    const List &x = a.as_list(), &y = b.as_list();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (a.is_undefined() || b.is_undefined()) throw TemplateError((a.is_undefined() ? a : b).undefined_message());
  throw TemplateError("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

List iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return {};
    case Value::Kind::list: case Value::Kind::tuple: return v.as_list();
    case Value::Kind::dict: {
      List keys;
      for (const auto& [k, val] : v.as_dict().items) keys.push_back(k);
      return keys;
    }
    case Value::Kind::generator: {
      Generator& g = v.as_generator();
      List rest(g.items.begin() + static_cast<std::ptrdiff_t>(g.next), g.items.end());
      g.next = g.items.size();
      return rest;
    }
    case Value::Kind::string: {
      List chars;
      const std::string& s = v.as_string();
      for (std::size_t i = 0; i < s.size();) {
        const std::size_t start = i;
        tok::next_code_point(s, i);
        chars.emplace_back(s.substr(start, i - start));
      }
      return chars;
    }
    default: throw TemplateError("'" + v.type_name() + "' object is not iterable");
  }
}

std::int64_t length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return 0;
    case Value::Kind::string: return pystr::length(v.as_string());
    case Value::Kind::list: case Value::Kind::tuple: return static_cast<std::int64_t>(v.as_list().size());
    case Value::Kind::dict: return static_cast<std::int64_t>(v.as_dict().items.size());
    default: throw TemplateError("object of type '" + v.type_name() + "' has no len()");
  }
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(static_cast<std::int64_t>(j.get<std::uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, e] : j.items()) d.items.emplace_back(Value(k), from_json(e));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  for (std::size_t i = 0; i < s.size();) {
    const char32_t c = tok::next_code_point(s, i);
    switch (c) {
      case U'"': out += "\\\""; continue;
      case U'\\': out += "\\\\"; continue;
      case U'\n': out += "\\n"; continue;
      case U'\r': out += "\\r"; continue;
      case U'\t': out += "\\t"; continue;
      case U'\b': out += "\\b"; continue;
      case U'\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
      if (c > 0xFFFF) {  // a surrogate pair, as Python writes astral characters
        const char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      tok::append_utf8(out, c);
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

std::string json_key(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::string: return k.as_string();
    case Value::Kind::boolean: return k.as_bool() ? "true" : "false";
    case Value::Kind::integer: return std::to_string(k.as_int());
    case Value::Kind::floating: return json_float(k.as_float());
    case Value::Kind::none: return "null";
    default: throw TemplateError("keys must be str, int, float, bool or None, not " + k.type_name());
  }
}

void dump(std::string& out, const Value& v, const JsonStyle& st, const std::string& item_sep,
          const std::string& key_sep, int depth) {
  auto newline = [&](int d) {
    if (!st.indent) return;
    out += '\n';
    for (int i = 0; i < d; ++i) out += *st.indent;
  };
  switch (v.kind()) {
    case Value::Kind::none: out += "null"; return;
    case Value::Kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::integer: out += std::to_string(v.as_int()); return;
    case Value::Kind::floating: out += json_float(v.as_float()); return;
    case Value::Kind::string: json_string(out, v.as_string(), st.ensure_ascii); return;
    case Value::Kind::list: case Value::Kind::tuple: {
      if (v.as_list().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t i = 0; i < v.as_list().size(); ++i) {
        if (i > 0) out += item_sep;
        newline(depth + 1);
        dump(out, v.as_list()[i], st, item_sep, key_sep, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::dict: {
      if (v.as_dict().items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, val] : v.as_dict().items) items.emplace_back(json_key(k), &val);
      if (st.sort_keys) std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
      out += '{';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += item_sep;
        newline(depth + 1);
        json_string(out, items[i].first, st.ensure_ascii);
        out += key_sep;
        dump(out, *items[i].second, st, item_sep, key_sep, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Value::Kind::undefined:
      throw TemplateError("tojson: " + v.undefined_message() + " (Object of type Undefined is not JSON serializable)");
    default: throw TemplateError("tojson: Object of type " + v.type_name() + " is not JSON serializable");
  }
}

}  // namespace

std::string to_json(const Value& v, const JsonStyle& style) {
  std::string item_sep = style.indent ? "," : ", ";
  std::string key_sep = ": ";
  if (style.separators) {
    item_sep = style.separators->first;
    key_sep = style.separators->second;
  }
  std::string out;
  dump(out, v, style, item_sep, key_sep, 0);
  return out;
}

}  // namespace qrun::jinja
