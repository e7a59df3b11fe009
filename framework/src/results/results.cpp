// results.json: (de)serialisation of metric values and results, schema checks, atomic writes.
#include "results/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace qrun {

namespace {

std::optional<Better> parse_better(const std::string& s) {
  if (s == "higher") return Better::higher;
  if (s == "lower") return Better::lower;
  if (s == "none") return Better::none;
  return std::nullopt;
}

// Field checks for metric_value_from_json: thing is the key, reason says what was found.
Error field_error(const std::string& key, const std::string& expected, const nlohmann::json& got) {
  return Error{key, "expected " + expected + ", got " + (got.is_null() ? "nothing" : got.dump()),
               "write results.json with qrun (do not edit it by hand) or rerun with --fresh"};
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

nlohmann::json to_json(const MetricValue& v) {
  nlohmann::json j;
  j["name"] = v.name;
  // JSON has no NaN/Inf: a non-finite value is written as null and refused when read back.
  j["value"] = std::isfinite(v.value) ? nlohmann::json(v.value) : nlohmann::json(nullptr);
  j["stderr"] = (v.stderr_ && std::isfinite(*v.stderr_)) ? nlohmann::json(*v.stderr_) : nlohmann::json(nullptr);
  j["n"] = v.n;
  j["unit"] = v.unit;
  j["better"] = std::string(to_string(v.better));
  j["group"] = v.group;
  return j;
}

Result<MetricValue> metric_value_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return field_error("value", "an object", j);
  MetricValue v;
  auto str = [&](const char* key, std::string& out) -> std::optional<Error> {
    if (!j.contains(key) || !j[key].is_string()) return field_error(key, "a string", j.value(key, nlohmann::json()));
    out = j[key].get<std::string>();
    return std::nullopt;
  };
  if (auto e = str("name", v.name)) return *e;
  if (!j.contains("value") || !j["value"].is_number())
    return field_error(v.name + ".value", "a finite number", j.value("value", nlohmann::json()));
  v.value = j["value"].get<double>();
  if (j.contains("stderr") && !j["stderr"].is_null()) {
    if (!j["stderr"].is_number()) return field_error(v.name + ".stderr", "a number or null", j["stderr"]);
    v.stderr_ = j["stderr"].get<double>();
  }
  if (!j.contains("n") || !j["n"].is_number_integer())
    return field_error(v.name + ".n", "an integer", j.value("n", nlohmann::json()));
  v.n = j["n"].get<std::int64_t>();
  if (auto e = str("unit", v.unit)) return e->within(v.name, ".");
  std::string better;
  if (auto e = str("better", better)) return e->within(v.name, ".");
  auto b = parse_better(better);
  if (!b) return field_error(v.name + ".better", "\"higher\", \"lower\" or \"none\"", j["better"]);
  v.better = *b;
  if (auto e = str("group", v.group)) return e->within(v.name, ".");
  return v;
}

nlohmann::json to_json(const MetricResult& r) {
  nlohmann::json values = nlohmann::json::array();
  for (const MetricValue& v : r.values) values.push_back(to_json(v));
  nlohmann::json j;
  j["values"] = std::move(values);
  j["details"] = r.details.is_null() ? nlohmann::json::object() : r.details;
  j["method"] = r.method;
  return j;
}

Result<MetricResult> metric_result_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return field_error("metric", "an object", j);
  MetricResult r;
  if (!j.contains("values") || !j["values"].is_array())
    return field_error("values", "an array", j.value("values", nlohmann::json()));
  for (std::size_t i = 0; i < j["values"].size(); ++i) {
    auto v = metric_value_from_json(j["values"][i]);
    if (!v) return v.error().within("values[" + std::to_string(i) + "]", ".");
    r.values.push_back(std::move(*v));
  }
  r.details = j.value("details", nlohmann::json::object());
  if (j.contains("method") && !j["method"].is_string()) return field_error("method", "a string", j["method"]);
  r.method = j.value("method", std::string());
  return r;
}

nlohmann::json to_json(const ModelStorage& s) {
  return {{"total_bytes", s.total_bytes},
          {"linear_bytes", s.linear_bytes},
          {"quantized_linear_bytes", s.quantized_linear_bytes},
          {"hf_footprint_bytes", s.hf_footprint_bytes},
          {"parameters", s.parameters}};
}

Result<nlohmann::json> read_results(const std::filesystem::path& path) {
  const std::string file = path.string();
  const std::string fix_rerun = "rerun the experiment with --fresh, or point to a results.json written by qrun";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{file, "cannot open (" + errno_text(errno) + ")",
                 "check the path; a run writes <output_dir>/results.json"};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{file, "is not valid JSON", fix_rerun};
  if (!j.is_object()) return Error{file, "top level is not a JSON object", fix_rerun};

  auto missing = [&](const std::string& key, const std::string& expected) {
    return Error{file + " " + key, "missing or not " + expected, fix_rerun};
  };
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return missing("schema_version", "an integer");
  const auto version = j["schema_version"].get<std::int64_t>();
  if (version != kResultsSchemaVersion) {
    return Error{file + " schema_version",
                 "is " + std::to_string(version) + ", this qrun reads version " +
                     std::to_string(kResultsSchemaVersion),
                 "use the qrun that wrote it, or rerun the experiment with --fresh"};
  }
  if (!j.contains("experiment") || !j["experiment"].is_object()) return missing("experiment", "an object");
  if (!j.contains("provenance") || !j["provenance"].is_object()) return missing("provenance", "an object");
  if (!j.contains("complete") || !j["complete"].is_boolean()) return missing("complete", "true or false");
  if (!j.contains("variants") || !j["variants"].is_array()) return missing("variants", "an array");

  int baselines = 0;
  for (std::size_t i = 0; i < j["variants"].size(); ++i) {
    const nlohmann::json& v = j["variants"][i];
    const std::string at = "variants[" + std::to_string(i) + "]";
    if (!v.is_object()) return missing(at, "an object");
    if (!v.contains("name") || !v["name"].is_string()) return missing(at + ".name", "a string");
    if (!v.contains("baseline") || !v["baseline"].is_boolean()) return missing(at + ".baseline", "true or false");
    if (v["baseline"].get<bool>()) ++baselines;
    if (!v.contains("metrics") || !v["metrics"].is_object()) return missing(at + ".metrics", "an object");
    for (const auto& [label, cell] : v["metrics"].items()) {
      const std::string cell_at = at + ".metrics." + label;
      if (!cell.is_object() || !cell.contains("use") || !cell["use"].is_string())
        return missing(cell_at + ".use", "a string");
      auto r = metric_result_from_json(cell);
      if (!r) return r.error().within(file + " " + cell_at, ".");
    }
  }
  if (!j["variants"].empty() && baselines != 1) {
    return Error{file + " variants", std::to_string(baselines) + " variants are marked baseline, expected 1",
                 fix_rerun};
  }
  return j;
}

Result<void> write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::string file = path.string();
  std::error_code ec;
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{dir.string(), "cannot create folder (" + ec.message() + ")", "check permissions or choose another output folder"};

  // The temp file lives in the same folder so that rename() is atomic (same file system).
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return Error{file, "cannot create a temporary file (" + errno_text(errno) + ")",
                 "check that the folder is writable"};
  }
  const std::string tmp(name.data());
  auto fail = [&](const std::string& what) -> Result<void> {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error{file, what + " (" + errno_text(err) + ")", "check free disk space and permissions"};
  };
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);  // mkstemp creates 0600; results are meant to be shared
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{file, "cannot close (" + errno_text(err) + ")", "check free disk space"};
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{file, "cannot replace (" + errno_text(err) + ")", "check permissions of the folder"};
  }
  // Make the rename itself durable.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<void> write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j) {
  return write_text_atomic(path, j.dump(2) + "\n");
}

}  // namespace qrun
