// Plugin parameters: a plain struct plus one schema, declared once in the plugin's file.
//
//   struct Cfg { double std = 1e-3; std::string mode = "absolute"; };
//   const auto schema = qrun::schema<Cfg>(
//       qrun::field("std", &Cfg::std).range(0.0, 1.0).doc("noise standard deviation"),
//       qrun::field("mode", &Cfg::mode).choices({"absolute", "row_std", "row_absmax"}).doc("..."));
//
// From that one declaration come validation (types, ranges, choices, unknown keys with a
// nearest-name hint), defaults (the struct's own initialisers), the typed struct the plugin
// receives, `qrun plugins` listings and the effective values recorded in results.json.
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace qrun {

enum class ParamType { boolean, integer, real, string, string_list };
std::string_view to_string(ParamType t);  // "bool", "int", "float", "string", "string list"

using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;
using ParamMap = std::map<std::string, ParamValue>;  // ordered: deterministic output

std::string to_string(const ParamValue& v);  // TOML-like rendering: true, 3, 0.5, "x", ["a", "b"]

struct FieldSpec {
  std::string name;
  ParamType type = ParamType::string;
  ParamValue default_value;
  std::string doc;
  std::string unit;                          // e.g. "tokens", "×row std"; may be empty
  std::optional<double> min, max;            // inclusive bounds for integer/real
  std::vector<std::string> choices;          // allowed values for string (empty: any)
};

// The type-erased description the core works with.
struct SchemaInfo {
  std::vector<FieldSpec> fields;
  const FieldSpec* find(const std::string& name) const;
};

// Validates `given` against `schema`: rejects unknown keys (with the nearest name as a hint),
// wrong types (an integer is accepted where a real is expected and converted), values out of
// range or not among the choices; fills defaults. Error::thing is the parameter name.
Result<ParamMap> validate_params(const SchemaInfo& schema, const ParamMap& given);

// Parses "key=value" as given on a command line (`--param blocksize=64`), typed by the schema.
Result<std::pair<std::string, ParamValue>> parse_param_assignment(const SchemaInfo& schema,
                                                                  const std::string& text);

// Levenshtein-nearest candidate, if it is close enough to be a plausible typo.
std::optional<std::string> nearest_name(const std::string& name, const std::vector<std::string>& candidates);

namespace detail {
template <class T>
constexpr ParamType param_type_of() {
  if constexpr (std::is_same_v<T, bool>) return ParamType::boolean;
  else if constexpr (std::is_integral_v<T>) return ParamType::integer;
  else if constexpr (std::is_floating_point_v<T>) return ParamType::real;
  else if constexpr (std::is_same_v<T, std::string>) return ParamType::string;
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return ParamType::string_list;
  else static_assert(sizeof(T) == 0, "unsupported parameter type");
}
template <class T>
ParamValue to_param(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v;
  else if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(v);
  else if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
  else return v;
}
template <class T>
T from_param(const ParamValue& v) {
  if constexpr (std::is_same_v<T, bool>) return std::get<bool>(v);
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(std::get<std::int64_t>(v));
  else if constexpr (std::is_floating_point_v<T>) {
    if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<T>(*i);
    return static_cast<T>(std::get<double>(v));
  } else return std::get<T>(v);
}
}  // namespace detail

template <class Cfg, class T>
class Field {
 public:
  Field(std::string name, T Cfg::*member) : member_(member) {
    spec_.name = std::move(name);
    spec_.type = detail::param_type_of<T>();
    spec_.default_value = detail::to_param<T>(Cfg{}.*member);
  }
  Field& doc(std::string d) { spec_.doc = std::move(d); return *this; }
  Field& unit(std::string u) { spec_.unit = std::move(u); return *this; }
  Field& range(double lo, double hi) { spec_.min = lo; spec_.max = hi; return *this; }
  Field& min(double lo) { spec_.min = lo; return *this; }
  Field& max(double hi) { spec_.max = hi; return *this; }
  Field& choices(std::vector<std::string> c) { spec_.choices = std::move(c); return *this; }

  const FieldSpec& spec() const { return spec_; }
  void assign(Cfg& cfg, const ParamValue& v) const { cfg.*member_ = detail::from_param<T>(v); }

 private:
  FieldSpec spec_;
  T Cfg::*member_;
};

template <class Cfg, class T>
Field<Cfg, T> field(std::string name, T Cfg::*member) {
  return Field<Cfg, T>(std::move(name), member);
}

// A schema for the parameter struct Cfg.
template <class Cfg>
class Schema {
 public:
  template <class... Fs>
  explicit Schema(Fs... fs) {
    (add(fs), ...);
  }
  const SchemaInfo& info() const { return info_; }
  // Builds the typed struct from an already validated map (validate_params fills every field).
  Cfg make(const ParamMap& validated) const {
    Cfg cfg{};
    for (const auto& [name, assign] : setters_) {
      auto it = validated.find(name);
      if (it != validated.end()) assign(cfg, it->second);
    }
    return cfg;
  }

 private:
  template <class T>
  void add(const Field<Cfg, T>& f) {
    info_.fields.push_back(f.spec());
    setters_.emplace_back(f.spec().name, [f](Cfg& c, const ParamValue& v) { f.assign(c, v); });
  }
  SchemaInfo info_;
  std::vector<std::pair<std::string, std::function<void(Cfg&, const ParamValue&)>>> setters_;
};

template <class Cfg, class... Fs>
Schema<Cfg> schema(Fs... fs) {
  return Schema<Cfg>(std::move(fs)...);
}

// For plugins without parameters.
struct NoParams {};
inline Schema<NoParams> no_params() { return Schema<NoParams>(); }

}  // namespace qrun
