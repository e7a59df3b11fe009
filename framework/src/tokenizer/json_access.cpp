// JSON file reading and checked member access for the tokenizer loader.
#include "tokenizer/json_access.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace qrun::tok {
namespace {

const char* kind_name(Json::value_t kind) {
  switch (kind) {
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "a value";
  }
}

bool has_kind(const Json& v, Json::value_t kind) {
  if (kind == Json::value_t::number_integer || kind == Json::value_t::number_unsigned) {
    return v.is_number_integer();
  }
  if (kind == Json::value_t::number_float) return v.is_number();
  return v.type() == kind;
}

}  // namespace

Result<Json> read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error{file.string(), "cannot be opened", "check that the model folder holds this file",
                 std::filesystem::exists(file) ? ErrorCode::io : ErrorCode::not_found};
  }
  std::ostringstream text;
  text << in.rdbuf();
  // nlohmann reports a syntax error's position only through its exception; it is caught here,
  // right at the parse, and turned into an Error.
  try {
    return Json::parse(text.str());
  } catch (const Json::parse_error& e) {
    // nlohmann's text without its "[json.exception.parse_error.101] parse error at " prefix (issue
    // 18: raw exception texts in errors), and with ',' for ';' (one "; fix:" per error line).
    std::string what = e.what();
    if (const auto p = what.find("] "); what.rfind("[json.exception.", 0) == 0 && p != std::string::npos) what.erase(0, p + 2);
    if (what.rfind("parse error at ", 0) == 0) what.erase(0, 15);
    std::replace(what.begin(), what.end(), ';', ',');
    return Error{file.string(), "is not valid JSON (byte " + std::to_string(e.byte) + ", " + what + ")",
                 "restore the file from the model's original download", ErrorCode::corrupt_input};
  } catch (const Json::out_of_range&) {  // a number such as 1e400 (found by tests/fuzz/fuzz_tokenizer)
    return Error{file.string(), "holds a number too large for a 64-bit float or integer",
                 "restore the file from the model's original download", ErrorCode::corrupt_input};
  }
}

Result<const Json*> optional_member(const Json& obj, const JsonWhere& where, std::string_view key,
                                    Json::value_t kind) {
  if (!obj.is_object()) return where.error("is not a JSON object", "restore the file from the original download");
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  if (!has_kind(*it, kind)) {
    return where.key(key).error(std::string("is ") + it->type_name() + ", expected " + kind_name(kind),
                                "restore the file from the original download");
  }
  return &*it;
}

Result<const Json*> member(const Json& obj, const JsonWhere& where, std::string_view key, Json::value_t kind) {
  auto m = optional_member(obj, where, key, kind);
  if (!m.ok()) return m.error();
  if (*m == nullptr) {
    return where.key(key).error(std::string("is missing (expected ") + kind_name(kind) + ")",
                                "restore the file from the original download");
  }
  return m;
}

Result<std::string> string_member(const Json& obj, const JsonWhere& where, std::string_view key) {
  auto m = member(obj, where, key, Json::value_t::string);
  if (!m.ok()) return m.error();
  return (*m)->get<std::string>();
}

Result<bool> bool_member(const Json& obj, const JsonWhere& where, std::string_view key, bool fallback) {
  auto m = optional_member(obj, where, key, Json::value_t::boolean);
  if (!m.ok()) return m.error();
  return *m == nullptr ? fallback : (*m)->get<bool>();
}

Error unsupported(const JsonWhere& where, std::string_view value, std::string_view supported) {
  return where.error("\"" + std::string(value) + "\" is not supported (qrun supports: " + std::string(supported) + ")",
                     "use a model whose tokenizer.json uses only supported components, or add this one in "
                     "framework/src/tokenizer/",
                     ErrorCode::unsupported);
}

}  // namespace qrun::tok
