// A run folder and the processes that worked on it. Every `qrun run` (a start, a resumption, a
// shard, a worker) and every `qrun merge` writes one session file
// <run folder>/sessions/<UTC time>-<host>-<pid>.json (written once, atomically: safe on a shared
// network folder) naming the experiment file, the --set overrides and the plugin folders it ran
// with. That is how a later command finds "the most recent run of this experiment" (same file,
// same overrides), how `qrun merge` and `qrun status` know the experiment of a folder, and what
// the report lists as the first start and every resumption. Internal.
#pragma once

#include "results/results.hpp"

#include <qrun/error.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun::runner {

// What a run folder is a run of.
struct RunIdentity {
  std::filesystem::path experiment_file;    // absolute, normalised
  std::vector<std::string> overrides;       // --set texts, in order
  bool operator==(const RunIdentity& o) const {
    return experiment_file == o.experiment_file && overrides == o.overrides;
  }
};

struct Session {
  SessionRecord record;                     // kind, started, host, shard, job
  RunIdentity identity;
  std::vector<std::string> plugin_paths;    // the --plugin-path folders it ran with
  long pid = 0;
};

RunIdentity make_identity(const std::filesystem::path& experiment_file, std::vector<std::string> overrides);

// Every session of a run folder, oldest first (by start time, then file name).
std::vector<Session> read_sessions(const std::filesystem::path& run_dir);

// Records this process; kind "start" when the folder has no session yet, else "resume", unless
// `kind` is given ("merge").
Result<Session> write_session(const std::filesystem::path& run_dir, const RunIdentity& identity,
                              const std::vector<std::string>& plugin_paths, const std::string& shard,
                              std::optional<std::string> kind = std::nullopt);

// The most recent folder <parent>/<name>-* whose latest run session has this identity; nullopt
// when there is none. ("Most recent" by that session's start time.)
std::optional<std::filesystem::path> find_latest_run(const std::filesystem::path& parent, const std::string& name,
                                                     const RunIdentity& identity);

// The identity and plugin folders of the folder's latest non-merge session; Error naming the
// folder when it has none (not a run folder).
Result<Session> latest_run_session(const std::filesystem::path& run_dir);

}  // namespace qrun::runner
