// Session files of a run folder; finding the latest run of an experiment.
#include "runner/run_folder.hpp"

#include "runner/cell_store.hpp"
#include "runner/provenance.hpp"
#include "runner/threads.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace qrun::runner {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::optional<Session> read_session(const fs::path& p) {
  std::ifstream in(p);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  Session s;
  s.record = {j.value("kind", ""), j.value("started", ""), j.value("host", ""), j.value("shard", ""), j.value("job", ""),
              j.value("threads", "")};
  s.identity.experiment_file = j.value("experiment_file", "");
  s.identity.overrides = j.value("overrides", std::vector<std::string>{});
  s.plugin_paths = j.value("plugin_paths", std::vector<std::string>{});
  s.pid = j.value("pid", 0L);
  return s;
}

// UTC time with sub-second digits, sortable as text: "20261207T221502.123456Z".
std::string file_stamp() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::string t = utc_timestamp(now);  // 2026-12-07T22:15:02Z
  t.erase(std::remove(t.begin(), t.end(), '-'), t.end());
  t.erase(std::remove(t.begin(), t.end(), ':'), t.end());
  t.pop_back();
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(us));
  return t + frac;
}

}  // namespace

RunIdentity make_identity(const fs::path& experiment_file, std::vector<std::string> overrides) {
  return {fs::absolute(experiment_file).lexically_normal(), std::move(overrides)};
}

std::vector<Session> read_sessions(const fs::path& run_dir) {
  std::vector<std::pair<std::string, Session>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir / "sessions", ec)) {
    if (entry.path().extension() != ".json") continue;
    if (auto s = read_session(entry.path())) found.emplace_back(entry.path().filename().string(), std::move(*s));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.record.started, a.first) < std::tie(b.second.record.started, b.first);
  });
  std::vector<Session> out;
  for (auto& [name, s] : found) out.push_back(std::move(s));
  return out;
}

Result<Session> write_session(const fs::path& run_dir, const RunIdentity& identity, const std::vector<std::string>& plugin_paths,
                              const std::string& shard, std::optional<std::string> kind) {
  const bool first = read_sessions(run_dir).empty();
  const CellMarker me = this_process(shard);
  Session s;
  s.record = {kind ? *kind : (first ? "start" : "resume"), me.started, me.host, shard, me.job, applied_threads().summary};
  s.identity = identity;
  s.plugin_paths = plugin_paths;
  s.pid = me.pid;
  const json j = {{"kind", s.record.kind},       {"started", s.record.started},
                  {"host", s.record.host},       {"pid", s.pid},
                  {"shard", shard},              {"job", s.record.job}, {"threads", s.record.threads},
                  {"experiment_file", identity.experiment_file.string()},
                  {"overrides", identity.overrides}, {"plugin_paths", plugin_paths}};
  const std::string name = file_stamp() + "-" + me.host + "-" + std::to_string(me.pid) + ".json";
  QRUN_TRY(write_json_atomic(run_dir / "sessions" / name, j));
  return s;
}

std::optional<fs::path> find_latest_run(const fs::path& parent, const std::string& name, const RunIdentity& identity) {
  std::optional<fs::path> best;
  std::string best_started;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string folder = entry.path().filename().string();
    if (!entry.is_directory(ec) || folder.rfind(name + "-", 0) != 0) continue;
    std::optional<Session> last;
    for (Session& s : read_sessions(entry.path()))
      if (s.record.kind != "merge") last = std::move(s);
    if (!last || !(last->identity == identity)) continue;
    if (!best || last->record.started > best_started) {
      best = entry.path();
      best_started = last->record.started;
    }
  }
  return best;
}

Result<Session> latest_run_session(const fs::path& run_dir) {
  std::optional<Session> last;
  for (Session& s : read_sessions(run_dir))
    if (s.record.kind != "merge") last = std::move(s);
  if (!last)
    return Error{run_dir.string(), "is not a qrun run folder (no sessions/*.json)",
                 "give the folder a `qrun run` or `qrun slurm` printed", ErrorCode::not_found};
  return *last;
}

}  // namespace qrun::runner
