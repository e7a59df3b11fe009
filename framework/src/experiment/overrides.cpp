// --set overrides applied to the parsed TOML tree before validation, plus small TOML helpers.
#include "experiment/toml_util.hpp"

#include <cctype>
#include <optional>

namespace qrun::experiment_detail {

std::string one_line(std::string_view text, std::size_t max_size) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
    else out += ch;
    if (max_size != 0 && out.size() > max_size) return out.substr(0, max_size - 3) + "...";
  }
  return out;
}

Error one_line(Error e) {
  e.thing = one_line(e.thing, 400);
  e.reason = one_line(e.reason, 400);
  e.fix = one_line(e.fix, 0);
  return e;
}

std::string where(const toml::source_region& src, const std::string& file) {
  if (src.begin.line == 0) return "--set";
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

Result<ParamValue> to_param_value(const toml::node& n, const std::string& at) {
  if (auto v = n.as_boolean()) return ParamValue(v->get());
  if (auto v = n.as_integer()) return ParamValue(static_cast<std::int64_t>(v->get()));
  if (auto v = n.as_floating_point()) return ParamValue(v->get());
  if (auto v = n.as_string()) return ParamValue(v->get());
  if (auto arr = n.as_array()) {
    std::vector<std::string> items;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const auto* s = (*arr)[i].as_string();
      if (!s) {
        return Error{at, "element " + std::to_string(i) + " is a " + type_name((*arr)[i]) +
                             "; parameter lists hold strings only",
                     "write the list as strings, e.g. [\"embed_tokens\", \"lm_head\"]"};
      }
      items.push_back(s->get());
    }
    return ParamValue(std::move(items));
  }
  return Error{at, "is a " + type_name(n) + "; parameters are booleans, integers, floats, strings or lists of strings",
               "write a plain value, e.g. key = 0.5 or key = \"text\""};
}

namespace {

struct Segment {
  std::string key;
  std::vector<std::size_t> indices;
};

Error bad_set(const std::string& text, const std::string& reason) {
  return Error{"--set " + text, reason,
               "write --set section.key=value, e.g. --set model.path=/models/x or "
               "--set 'metrics[0].max_length=64'"};
}

std::optional<std::vector<Segment>> parse_path(const std::string& path) {
  std::vector<Segment> out;
  std::size_t i = 0;
  while (i < path.size()) {
    Segment seg;
    while (i < path.size() && (std::isalnum(static_cast<unsigned char>(path[i])) || path[i] == '_' || path[i] == '-'))
      seg.key += path[i++];
    if (seg.key.empty()) return std::nullopt;
    while (i < path.size() && path[i] == '[') {
      ++i;
      std::string digits;
      while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i]))) digits += path[i++];
      if (digits.empty() || digits.size() > 9 || i >= path.size() || path[i] != ']') return std::nullopt;
      ++i;
      seg.indices.push_back(std::stoul(digits));
    }
    out.push_back(std::move(seg));
    if (i == path.size()) break;
    if (path[i] != '.' || i + 1 == path.size()) return std::nullopt;
    ++i;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// The override's value as a fresh TOML node (no source region, so messages say "--set").
toml::table parse_value(const std::string& value) {
  toml::table holder;
  if (value.find('\n') == std::string::npos) {
    try {
      toml::table doc = toml::parse("v = " + value);
      if (const toml::node* v = doc.get("v")) {
        holder.insert_or_assign("v", *v);  // copies: the copy carries no source region
        return holder;
      }
    } catch (const toml::parse_error&) {
      // not a TOML value: taken as a string below
    }
  }
  holder.insert_or_assign("v", value);
  return holder;
}

std::string describe(const std::vector<Segment>& segs, std::size_t upto, std::size_t n_indices) {
  std::string s;
  for (std::size_t i = 0; i <= upto; ++i) {
    if (i) s += '.';
    s += segs[i].key;
    const std::size_t k = (i == upto) ? n_indices : segs[i].indices.size();
    for (std::size_t j = 0; j < k; ++j) s += "[" + std::to_string(segs[i].indices[j]) + "]";
  }
  return s;
}

Result<void> apply_one(toml::table& root, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) return bad_set(text, "has no '='");
  const std::string path = text.substr(0, eq);
  const auto segs = parse_path(path);
  if (!segs) return bad_set(text, "'" + path + "' is not a key path (keys joined by '.', each optionally followed by [index])");
  toml::table value_holder = parse_value(text.substr(eq + 1));

  toml::table* table = &root;
  for (std::size_t s = 0; s < segs->size(); ++s) {
    const Segment& seg = (*segs)[s];
    const bool last_segment = s + 1 == segs->size();
    if (seg.indices.empty()) {
      if (last_segment) {
        table->insert_or_assign(seg.key, std::move(*value_holder.get("v")));
        return {};
      }
      toml::node* child = table->get(seg.key);
      if (!child) {
        table->insert_or_assign(seg.key, toml::table{});
        child = table->get(seg.key);
      }
      table = child->as_table();
      if (!table) return bad_set(text, "'" + describe(*segs, s, 0) + "' is a " + type_name(*child) + ", not a table");
      continue;
    }
    toml::node* node = table->get(seg.key);
    if (!node) return bad_set(text, "'" + describe(*segs, s, 0) + "' does not exist, so it has no index");
    for (std::size_t k = 0; k < seg.indices.size(); ++k) {
      toml::array* arr = node->as_array();
      if (!arr) return bad_set(text, "'" + describe(*segs, s, k) + "' is a " + type_name(*node) + ", not an array");
      const std::size_t idx = seg.indices[k];
      if (idx >= arr->size()) {
        return bad_set(text, "index " + std::to_string(idx) + " is out of range: '" + describe(*segs, s, k) +
                                 "' has " + std::to_string(arr->size()) + " entries");
      }
      if (last_segment && k + 1 == seg.indices.size()) {
        arr->replace(arr->cbegin() + static_cast<std::ptrdiff_t>(idx), std::move(*value_holder.get("v")));
        return {};
      }
      node = arr->get(idx);
    }
    table = node->as_table();
    if (!table) return bad_set(text, "'" + describe(*segs, s, seg.indices.size()) + "' is a " + type_name(*node) + ", not a table");
  }
  return {};
}

}  // namespace

Result<void> apply_overrides(toml::table& root, const std::vector<std::string>& overrides) {
  for (const std::string& text : overrides) QRUN_TRY(apply_one(root, text));
  return {};
}

}  // namespace qrun::experiment_detail
