// Parameter values and their validation against a schema (qrun/params.hpp).
#include <qrun/params.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace qrun {
namespace {

// Shortest decimal that reads back to the same double ("0.5", "1", "1e-05").
std::string shortest(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return std::to_string(v);
  return std::string(buf, end);
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// The parameter type a value has, as the user would name it.
std::string_view type_name_of(const ParamValue& v) {
  switch (v.index()) {
    case 0: return to_string(ParamType::boolean);
    case 1: return to_string(ParamType::integer);
    case 2: return to_string(ParamType::real);
    case 3: return to_string(ParamType::string);
    default: return to_string(ParamType::string_list);
  }
}

// "an int", "a float": for messages.
std::string with_article(std::string_view noun) {
  const bool vowel = !noun.empty() && std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(noun);
}

std::string join_quoted(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + quoted(n);
  return out;
}

std::string field_names(const SchemaInfo& schema) {
  std::string out;
  for (const auto& f : schema.fields) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

Error unknown_key(const SchemaInfo& schema, const std::string& key) {
  if (schema.fields.empty()) return Error{key, "unknown parameter (this component takes no parameters)", "remove it"};
  std::vector<std::string> names;
  for (const auto& f : schema.fields) names.push_back(f.name);
  std::string fix;
  if (auto near = nearest_name(key, names)) fix = "did you mean '" + *near + "'? ";
  fix += "parameters are: " + field_names(schema);
  return Error{key, "unknown parameter", fix};
}

std::string range_text(const FieldSpec& f) {
  if (f.min && f.max) return "a value in [" + shortest(*f.min) + ", " + shortest(*f.max) + "]";
  if (f.min) return "a value >= " + shortest(*f.min);
  return "a value <= " + shortest(*f.max);
}

Result<void> check_range(const FieldSpec& f, double v, const std::string& shown) {
  if (std::isnan(v)) return Error{f.name, "nan is not a number", "use " + (f.min || f.max ? range_text(f) : "a finite value")};
  if (f.min && v < *f.min) return Error{f.name, shown + " is below " + shortest(*f.min), "use " + range_text(f)};
  if (f.max && v > *f.max) return Error{f.name, shown + " is above " + shortest(*f.max), "use " + range_text(f)};
  return {};
}

Result<void> check_choice(const FieldSpec& f, const std::string& thing, const std::string& v) {
  if (f.choices.empty()) return {};
  for (const auto& c : f.choices) {
    if (c == v) return {};
  }
  std::string fix;
  if (auto near = nearest_name(v, f.choices)) fix = "did you mean " + quoted(*near) + "? ";
  fix += "use one of " + join_quoted(f.choices);
  return Error{thing, quoted(v) + " is not one of " + join_quoted(f.choices), fix};
}

// Checks one given value against its field; returns the value converted to the field's type.
Result<ParamValue> check_value(const FieldSpec& f, const ParamValue& v) {
  const bool type_ok = (f.type == ParamType::boolean && std::holds_alternative<bool>(v)) ||
                       (f.type == ParamType::integer && std::holds_alternative<std::int64_t>(v)) ||
                       (f.type == ParamType::real &&
                        (std::holds_alternative<double>(v) || std::holds_alternative<std::int64_t>(v))) ||
                       (f.type == ParamType::string && std::holds_alternative<std::string>(v)) ||
                       (f.type == ParamType::string_list && std::holds_alternative<std::vector<std::string>>(v));
  if (!type_ok) {
    return Error{f.name,
                 "expected " + std::string(to_string(f.type)) + ", got " + std::string(type_name_of(v)) + " " +
                     to_string(v),
                 "write " + with_article(to_string(f.type)) + ", e.g. " + f.name + " = " + to_string(f.default_value)};
  }
  switch (f.type) {
    case ParamType::integer: {
      const auto i = std::get<std::int64_t>(v);
      QRUN_TRY(check_range(f, static_cast<double>(i), std::to_string(i)));
      return v;
    }
    case ParamType::real: {
      // An integer where a real is expected is converted: TOML users write `sigma = 1`.
      const double d = std::holds_alternative<std::int64_t>(v) ? static_cast<double>(std::get<std::int64_t>(v))
                                                               : std::get<double>(v);
      QRUN_TRY(check_range(f, d, shortest(d)));
      return ParamValue(d);
    }
    case ParamType::string:
      QRUN_TRY(check_choice(f, f.name, std::get<std::string>(v)));
      return v;
    case ParamType::string_list: {
      const auto& list = std::get<std::vector<std::string>>(v);
      for (std::size_t i = 0; i < list.size(); ++i) {
        QRUN_TRY(check_choice(f, f.name + "[" + std::to_string(i) + "]", list[i]));
      }
      return v;
    }
    case ParamType::boolean: return v;
  }
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string unquote(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\''))) {
    s = s.substr(1, s.size() - 2);
  }
  return std::string(s);
}

}  // namespace

std::string_view to_string(ParamType t) {
  switch (t) {
    case ParamType::boolean: return "bool";
    case ParamType::integer: return "int";
    case ParamType::real: return "float";
    case ParamType::string: return "string";
    case ParamType::string_list: return "string list";
  }
  return "unknown";
}

std::string to_string(const ParamValue& v) {
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    std::string s = shortest(*d);
    // TOML floats need a fraction or an exponent ("1.0", not "1"); inf and nan are spelled as is.
    if (s.find_first_of(".eni") == std::string::npos) s += ".0";
    return s;
  }
  if (auto* s = std::get_if<std::string>(&v)) return quoted(*s);
  const auto& list = std::get<std::vector<std::string>>(v);
  return "[" + join_quoted(list) + "]";
}

const FieldSpec* SchemaInfo::find(const std::string& name) const {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Result<ParamMap> validate_params(const SchemaInfo& schema, const ParamMap& given) {
  for (const auto& [key, value] : given) {
    if (!schema.find(key)) return unknown_key(schema, key);
  }
  ParamMap out;
  for (const auto& f : schema.fields) {
    auto it = given.find(f.name);
    if (it == given.end()) {
      out.emplace(f.name, f.default_value);
      continue;
    }
    auto checked = check_value(f, it->second);
    if (!checked) return checked.error();
    out.emplace(f.name, std::move(checked).value());
  }
  return out;
}

Result<std::pair<std::string, ParamValue>> parse_param_assignment(const SchemaInfo& schema, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) {
    return Error{text, "expected key=value", "write e.g. " + (schema.fields.empty() ? std::string("name=value")
                                                                                   : schema.fields.front().name + "=" +
                                                                                         to_string(schema.fields.front().default_value))};
  }
  const std::string key(trim(std::string_view(text).substr(0, eq)));
  const std::string_view raw = trim(std::string_view(text).substr(eq + 1));
  const FieldSpec* f = schema.find(key);
  if (!f) return unknown_key(schema, key);
  auto bad = [&](const std::string& expected) {
    return Error{key, "'" + std::string(raw) + "' is not " + expected,
                 "write e.g. " + key + "=" + to_string(f->default_value)};
  };
  switch (f->type) {
    case ParamType::boolean:
      if (raw == "true") return std::pair{key, ParamValue(true)};
      if (raw == "false") return std::pair{key, ParamValue(false)};
      return bad("a bool (true or false)");
    case ParamType::integer: {
      std::int64_t i = 0;
      const char* begin = raw.data() + (!raw.empty() && raw.front() == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(begin, raw.data() + raw.size(), i);
      if (raw.empty() || ec != std::errc() || end != raw.data() + raw.size()) return bad("an int");
      return std::pair{key, ParamValue(i)};
    }
    case ParamType::real: {
      double d = 0;
      const char* begin = raw.data() + (!raw.empty() && raw.front() == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(begin, raw.data() + raw.size(), d);
      if (raw.empty() || ec != std::errc() || end != raw.data() + raw.size()) return bad("a float");
      return std::pair{key, ParamValue(d)};
    }
    case ParamType::string: return std::pair{key, ParamValue(unquote(raw))};
    case ParamType::string_list: {
      // "a,b", "[a, b]" or "['a', \"b\"]"; "" and "[]" are the empty list.
      std::string_view body = raw;
      if (body.size() >= 2 && body.front() == '[' && body.back() == ']') body = trim(body.substr(1, body.size() - 2));
      std::vector<std::string> list;
      while (!body.empty()) {
        const auto comma = body.find(',');
        list.push_back(unquote(body.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        body = body.substr(comma + 1);
      }
      return std::pair{key, ParamValue(std::move(list))};
    }
  }
  return bad("valid");
}

}  // namespace qrun
