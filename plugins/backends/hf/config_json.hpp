// Typed reads of config.json fields with errors naming the file and key (hf_config.cpp and
// rope_config.cpp). A key whose value is null counts as absent, as transformers' configs treat it.
#pragma once

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace qrun::hf {

struct JsonReader {
  std::filesystem::path file;
  const nlohmann::json& j;
  std::string prefix;  // "" for the top level, "rope_parameters." inside that object

  // A malformed value (corrupt_input), or a well-formed one qrun does not implement (unsupported).
  Error bad(const std::string& key, const std::string& reason, const std::string& fix,
            ErrorCode code = ErrorCode::corrupt_input) const {
    return Error{file.string() + " " + prefix + key, reason, fix, code};
  }
  bool has(const std::string& key) const { return j.contains(key) && !j.at(key).is_null(); }
  JsonReader child(const std::string& key) const { return {file, j.at(key), prefix + key + "."}; }

  // A positive integer; `fallback` when absent (nullopt: required).
  Result<std::int64_t> positive(const std::string& key, std::optional<std::int64_t> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      return bad(key, "missing", "use a complete config.json from the checkpoint");
    }
    const nlohmann::json& v = j.at(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      return bad(key, "must be a positive integer, got " + v.dump(), "fix config.json");
    return v.get<std::int64_t>();
  }
  // A number, or nullopt when absent.
  Result<std::optional<double>> optional_number(const std::string& key) const {
    if (!has(key)) return std::optional<double>();
    const nlohmann::json& v = j.at(key);
    if (!v.is_number()) return bad(key, "must be a number, got " + v.dump(), "fix config.json");
    return std::optional<double>(v.get<double>());
  }
  Result<double> number(const std::string& key, double fallback) const {
    auto v = optional_number(key);
    if (!v) return v.error();
    return v->value_or(fallback);
  }
  Result<bool> boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j.at(key);
    if (!v.is_boolean()) return bad(key, "must be true or false, got " + v.dump(), "fix config.json");
    return v.get<bool>();
  }
  Result<std::string> string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j.at(key);
    if (!v.is_string()) return bad(key, "must be a string, got " + v.dump(), "fix config.json");
    return v.get<std::string>();
  }
};

}  // namespace qrun::hf
