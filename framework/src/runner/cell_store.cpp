// Cell files and their markers in <run folder>/cells/.
#include "runner/cell_store.hpp"

#include "runner/provenance.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace qrun::runner {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::optional<json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

json marker_json(const CellMarker& m) {
  return {{"host", m.host}, {"pid", m.pid}, {"shard", m.shard}, {"job", m.job}, {"started", m.started}, {"error", m.error}};
}

std::optional<CellMarker> read_marker(const fs::path& p) {
  auto j = read_json_file(p);
  if (!j || !j->is_object()) return std::nullopt;
  CellMarker m;
  m.host = j->value("host", "");
  m.pid = j->value("pid", 0L);
  m.shard = j->value("shard", "");
  m.job = j->value("job", "");
  m.started = j->value("started", "");
  m.error = j->value("error", "");
  return m;
}

}  // namespace

CellStore::CellStore(fs::path run_dir) : dir_(std::move(run_dir) / "cells") {}

fs::path CellStore::file(const std::string& key) const { return dir_ / (key + ".json"); }

bool CellStore::has(const std::string& key) const {
  std::error_code ec;
  return fs::is_regular_file(file(key), ec);
}

Result<std::optional<StoredCell>> CellStore::read(const std::string& key) const {
  if (!has(key)) return std::optional<StoredCell>{};
  const std::string path = file(key).string();
  auto j = read_json_file(file(key));
  const std::string fix = "delete it; the next run computes the cell again";
  if (!j || !j->is_object() || j->value("key", "") != key || !j->contains("record"))
    return Error{path, "is not a cell file written by qrun for this key", fix, ErrorCode::corrupt_input};
  StoredCell c;
  c.key = key;
  c.variant = j->value("variant", "");
  c.metric = j->value("metric", "");
  auto record = variant_from_json((*j)["record"], path + " record");
  if (!record) return Error{record.error().thing, record.error().reason, fix, ErrorCode::corrupt_input};
  c.record = std::move(*record);
  if (!c.record.metric(c.metric)) return Error{path, "holds no value for metric '" + c.metric + "'", fix, ErrorCode::corrupt_input};
  if ((*j)["model"].is_object()) {
    const json& m = (*j)["model"];
    ModelRecord r{m.value("name", ""), m.value("folder", ""), {}};
    if (m.contains("files") && m["files"].is_object())
      for (const auto& [f, sha] : m["files"].items()) r.files[f] = sha.is_string() ? sha.get<std::string>() : "";
    c.model = std::move(r);
  }
  if ((*j)["device"].is_string()) c.device = (*j)["device"].get<std::string>();
  if (j->contains("computed")) c.computed = (*j)["computed"];
  return std::optional<StoredCell>(std::move(c));
}

Result<void> CellStore::write(const StoredCell& c, const json& material) const {
  json model = nullptr;
  if (c.model) {
    json files = json::object();
    for (const auto& [f, sha] : c.model->files) files[f] = sha;
    model = {{"name", c.model->name}, {"folder", c.model->folder}, {"files", files}};
  }
  const json j = {{"key", c.key},          {"variant", c.variant},
                  {"metric", c.metric},    {"record", variant_json(c.record)},
                  {"model", model},        {"device", c.device ? json(*c.device) : json(nullptr)},
                  {"computed", c.computed}, {"material", material}};
  QRUN_TRY(write_json_atomic(file(c.key), j));
  clear_markers(c.key);
  return {};
}

Result<void> CellStore::mark_running(const std::string& key, const CellMarker& who) const {
  return write_json_atomic(dir_ / (key + ".running"), marker_json(who));
}

Result<void> CellStore::mark_failed(const std::string& key, const CellMarker& what) const {
  std::error_code ec;
  fs::remove(dir_ / (key + ".running"), ec);
  return write_json_atomic(dir_ / (key + ".failed"), marker_json(what));
}

void CellStore::clear_markers(const std::string& key) const {
  std::error_code ec;
  fs::remove(dir_ / (key + ".running"), ec);
  fs::remove(dir_ / (key + ".failed"), ec);
}

std::optional<CellMarker> CellStore::running(const std::string& key) const { return read_marker(dir_ / (key + ".running")); }
std::optional<CellMarker> CellStore::failed(const std::string& key) const { return read_marker(dir_ / (key + ".failed")); }

CellMarker this_process(const std::string& shard) {
  CellMarker m;
  m.host = host_name();
  m.pid = static_cast<long>(::getpid());
  m.shard = shard;
  const char* job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* plain = std::getenv("SLURM_JOB_ID");
  if (job && task) m.job = std::string(job) + "_" + task;
  else if (plain) m.job = plain;
  m.started = utc_timestamp(std::chrono::system_clock::now());
  return m;
}

bool marker_process_gone(const CellMarker& m) {
  if (m.host != host_name() || m.pid <= 0) return false;
  return ::kill(static_cast<pid_t>(m.pid), 0) != 0 && errno == ESRCH;
}

}  // namespace qrun::runner
