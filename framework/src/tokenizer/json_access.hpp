// Reading tokenizer.json / tokenizer_config.json: the file, and typed access to its members with
// errors that name the file and the JSON path ("tokenizer.json pre_tokenizer.pretokenizers[0].type").
#pragma once

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace qrun::tok {

using Json = nlohmann::json;

// A position in a JSON document: the file and the path of a value in it.
struct JsonWhere {
  std::string file;
  std::string path;  // "" for the document root

  JsonWhere key(std::string_view k) const {
    return {file, path.empty() ? std::string(k) : path + "." + std::string(k)};
  }
  JsonWhere index(std::size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
  // A malformed entry of the file (corrupt_input unless told otherwise).
  Error error(std::string reason, std::string fix, ErrorCode code = ErrorCode::corrupt_input) const {
    return Error{path.empty() ? file : file + " " + path, std::move(reason), std::move(fix), code};
  }
};

// Parses a JSON file; a missing file or malformed JSON is an Error naming the file (and the byte
// offset of a syntax error).
Result<Json> read_json_file(const std::filesystem::path& file);

// The member `key` of object `obj`, checked to be of the given kind. Missing: Error (or nullptr
// via optional_member). JSON null counts as missing for optional members.
Result<const Json*> member(const Json& obj, const JsonWhere& where, std::string_view key, Json::value_t kind);
Result<const Json*> optional_member(const Json& obj, const JsonWhere& where, std::string_view key,
                                    Json::value_t kind);

Result<std::string> string_member(const Json& obj, const JsonWhere& where, std::string_view key);
// A boolean member, `fallback` when absent or null.
Result<bool> bool_member(const Json& obj, const JsonWhere& where, std::string_view key, bool fallback);

// "<where>: \"<value>\" is not supported (supported: <list>)"; fix tells what to do.
Error unsupported(const JsonWhere& where, std::string_view value, std::string_view supported);

}  // namespace qrun::tok
