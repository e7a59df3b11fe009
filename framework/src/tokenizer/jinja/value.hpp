// The values a chat template computes with, as Python/Jinja2 sees them: undefined, None, bool, int,
// float, str, list, tuple, dict (insertion-ordered), callables (builtins, bound methods, macros)
// and Jinja2's namespace(). Containers are shared and immutable (transformers renders in
// jinja2's ImmutableSandboxedEnvironment); a namespace is the one mutable object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace qrun::jinja {

// A template error: what went wrong and the template line (0: unknown). The renderer adds the file.
// `unsupported`: a construct qrun's Jinja subset lacks; `raised`: the template's raise_exception().
struct TemplateError : std::runtime_error {
  enum class Kind { error, unsupported, raised };
  TemplateError(std::string message, int line_no = 0, Kind k = Kind::error)
      : std::runtime_error(message), line(line_no), kind(k) {}
  static TemplateError unsupported(std::string message, int line_no = 0) {
    return TemplateError(std::move(message), line_no, Kind::unsupported);
  }
  int line;
  Kind kind;
};

class Value;
using List = std::vector<Value>;

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable: a builtin function, a bound method or a macro. `fn` receives the call arguments.
struct Callable {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

struct Namespace {
  Dict attrs;
};

// A Python iterator that jinja2's filters return (map, select, reject, selectattr, rejectattr,
// unique, items; reverse of a list): always true, no len(), not JSON, used up by one pass.
struct Generator {
  std::string type;  // "generator", "list_reverseiterator"
  List items;
  std::size_t next = 0;
};

class Value {
 public:
  enum class Kind { undefined, none, boolean, integer, floating, string, list, tuple, dict, callable, ns, generator };

  Value() = default;  // undefined
  static Value undefined(std::string hint) {
    Value v;
    v.str_ = std::make_shared<std::string>(std::move(hint));
    return v;
  }
  static Value none() { return Value(Kind::none); }
  Value(bool b) : kind_(Kind::boolean), int_(b ? 1 : 0) {}                 // NOLINT: implicit by design
  Value(int i) : kind_(Kind::integer), int_(i) {}                         // NOLINT
  Value(std::int64_t i) : kind_(Kind::integer), int_(i) {}                // NOLINT
  Value(double d) : kind_(Kind::floating), float_(d) {}                   // NOLINT
  Value(std::string s) : kind_(Kind::string), str_(std::make_shared<std::string>(std::move(s))) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}                          // NOLINT
  // markupsafe's Markup: a str marked safe (the safe and escape filters make one). Adding a plain
  // str to it escapes that str; str methods and slices of it stay Markup.
  static Value markup(std::string s) {
    Value v(std::move(s));
    v.markup_ = true;
    return v;
  }
  static Value list(List items, bool tuple = false);
  static Value dict(Dict d);
  static Value callable(std::string name, std::function<Value(CallArgs&)> fn);
  static Value ns(Dict attrs);
  static Value generator(List items, std::string type = "generator");

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_int() const { return kind_ == Kind::integer || kind_ == Kind::boolean; }  // Python: bool is an int
  bool is_number() const { return is_int() || kind_ == Kind::floating; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_markup() const { return kind_ == Kind::string && markup_; }
  bool is_sequence() const { return kind_ == Kind::list || kind_ == Kind::tuple; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_callable() const { return kind_ == Kind::callable; }
  bool is_ns() const { return kind_ == Kind::ns; }
  bool is_generator() const { return kind_ == Kind::generator; }

  bool as_bool() const { return int_ != 0; }
  std::int64_t as_int() const { return int_; }
  double as_float() const { return kind_ == Kind::floating ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return *str_; }
  const List& as_list() const { return *list_; }
  const Dict& as_dict() const { return *dict_; }
  const Callable& as_callable() const { return *callable_; }
  Namespace& as_ns() const { return *ns_; }
  Generator& as_generator() const { return *gen_; }
  // The undefined value's description for errors: "'x' is undefined", "'dict object' has no attribute 'y'".
  std::string undefined_message() const;

  bool truthy() const;
  // Python's type name as Jinja2 error messages spell it ("str", "list", "dict", "NoneType", ...).
  std::string type_name() const;

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::undefined;
  bool markup_ = false;
  std::int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<std::string> str_;  // string value, or the undefined value's hint
  std::shared_ptr<const List> list_;
  std::shared_ptr<const Dict> dict_;
  std::shared_ptr<const Callable> callable_;
  std::shared_ptr<Namespace> ns_;
  std::shared_ptr<Generator> gen_;
};

// Python's str(v) (what {{ v }} prints; undefined prints ""), and repr(v) (inside containers).
std::string to_str(const Value& v);
std::string repr(const Value& v);
// markupsafe.escape of a plain str: & < > " ' as &amp; &lt; &gt; &#34; &#39;.
std::string html_escape(const std::string& s);
// Python's repr of a float ("1.0", "0.1", "1e+16").
std::string float_repr(double d);

// Python's ==, and the order of <, <=, >, >= (TemplateError when the types do not compare).
bool equals(const Value& a, const Value& b);
int compare(const Value& a, const Value& b);  // <0, 0, >0

// The items a value iterates over as Python does: list/tuple items, dict keys, string characters,
// a generator's remaining items (which uses them up). Undefined iterates as empty; anything else
// is a TemplateError naming the type.
List iterate(const Value& v);
// len(v), TemplateError when v has none. Undefined has length 0 (as Jinja2's Undefined).
std::int64_t length(const Value& v);

// JSON in and out. from_json keeps object key order (ordered_json). to_json is Python's
// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson filter calls it.
Value from_json(const nlohmann::ordered_json& j);
struct JsonStyle {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // none: one line
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonStyle& style);

}  // namespace qrun::jinja
