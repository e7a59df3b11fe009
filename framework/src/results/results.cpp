// results.json: Results lookups, reading a file, atomic writes.
#include "results/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace qrun {

namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

const MetricValue* MetricCell::find(std::string_view name, std::string_view group) const {
  for (const MetricValue& v : result.values)
    if (v.name == name && v.group == group) return &v;
  return nullptr;
}

bool MetricCell::has_groups() const {
  return std::any_of(result.values.begin(), result.values.end(), [](const MetricValue& v) { return !v.group.empty(); });
}

const MetricCell* VariantRecord::metric(std::string_view label) const {
  auto it = metrics.find(std::string(label));
  return it == metrics.end() ? nullptr : &it->second;
}

const VariantRecord* Results::variant(std::string_view name) const {
  for (const VariantRecord& v : variants)
    if (v.name == name) return &v;
  return nullptr;
}

VariantRecord* Results::variant(std::string_view name) {
  for (VariantRecord& v : variants)
    if (v.name == name) return &v;
  return nullptr;
}

const VariantRecord* Results::baseline() const {
  for (const VariantRecord& v : variants)
    if (v.baseline) return &v;
  return nullptr;
}

const MetricSpec& Results::spec(const std::string& use) const {
  static const MetricSpec none;
  auto it = declarations.find(use);
  return it == declarations.end() ? none : it->second;
}

const ValueSpec* Results::value_spec(const std::string& use, std::string_view name) const {
  return spec(use).find(name);
}

std::string Results::experiment_name() const {
  if (experiment.contains("name") && experiment["name"].is_string()) return experiment["name"].get<std::string>();
  return "";
}

std::optional<std::uint64_t> Results::seed() const {
  if (experiment.contains("seed") && experiment["seed"].is_number_unsigned()) return experiment["seed"].get<std::uint64_t>();
  if (experiment.contains("seed") && experiment["seed"].is_number_integer() && experiment["seed"].get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(experiment["seed"].get<std::int64_t>());
  return std::nullopt;
}

std::vector<std::string> Results::experiment_metric_labels() const {
  std::vector<std::string> labels;
  if (!experiment.contains("metrics") || !experiment["metrics"].is_array()) return labels;
  for (const nlohmann::json& m : experiment["metrics"])
    for (const char* key : {"label", "name", "use"})  // the runner's label: name, else use
      if (m.is_object() && m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty()) {
        labels.push_back(m[key].get<std::string>());
        break;
      }
  return labels;
}

nlohmann::json Results::report_table() const {
  if (experiment.contains("report") && experiment["report"].is_object()) return experiment["report"];
  return nlohmann::json::object();
}

Result<Results> read_results(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Error::of(err == ENOENT ? ErrorCode::not_found : ErrorCode::io, file, "cannot open (" + errno_text(err) + ")",
                     "check the path; a run writes <output_dir>/results.json");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return Error::of(ErrorCode::corrupt_input, file, "is not valid JSON",
                     "rerun the experiment with --fresh, or point to a results.json written by qrun");
  return results_from_json(j, file);
}

Result<void> write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::string file = path.string();
  std::error_code ec;
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{dir.string(), "cannot create folder (" + ec.message() + ")", "check permissions or choose another output folder",
                 ErrorCode::io};
  }

  // The temp file lives in the same folder so that rename() is atomic (same file system).
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return Error{file, "cannot create a temporary file (" + errno_text(errno) + ")",
                 "check that the folder is writable", ErrorCode::io};
  }
  const std::string tmp(name.data());
  auto fail = [&](const std::string& what) -> Result<void> {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error{file, what + " (" + errno_text(err) + ")", "check free disk space and permissions", ErrorCode::io};
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
    return Error{file, "cannot close (" + errno_text(err) + ")", "check free disk space", ErrorCode::io};
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{file, "cannot replace (" + errno_text(err) + ")", "check permissions of the folder", ErrorCode::io};
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
