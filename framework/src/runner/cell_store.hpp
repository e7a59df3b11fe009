// Finished cells as files: <run folder>/cells/<key>.json, one per cell, each written once and
// atomically (a uniquely named temporary file in the same folder, fsync, rename), so that shards
// on several hosts can share one folder on a network file system: nothing is edited in place and a
// reader sees either no file or a whole one. While a cell is computed a marker <key>.running says
// who computes it; a failed cell leaves <key>.failed with the error. Internal.
//
// A cell file:
// {"key": "<32 hex>", "variant": "<name>", "metric": "<label>",
//  "record": {<the variant as in results.json, with only this cell under "metrics">},
//  "model": {"name", "folder", "files": {...}} | null, "device": "cpu (...)" | null,
//  "computed": {"host", "pid", "shard", "job", "started", "finished", "seconds"},
//  "material": {<what the key hashes: cell_key.hpp>}}
#pragma once

#include "results/results.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace qrun::runner {

struct StoredCell {
  std::string key, variant, metric;
  VariantRecord record;               // the variant's facts and this one cell
  std::optional<ModelRecord> model;
  std::optional<std::string> device;
  nlohmann::json computed = nlohmann::json::object();  // who, where, when, how long
};

// Who is working on a cell (the .running marker) or what went wrong (the .failed marker).
struct CellMarker {
  std::string host, shard, job, started, error;
  long pid = 0;
};

class CellStore {
 public:
  explicit CellStore(std::filesystem::path run_dir);

  const std::filesystem::path& folder() const { return dir_; }  // <run folder>/cells
  std::filesystem::path file(const std::string& key) const;
  bool has(const std::string& key) const;
  // The stored cell; nullopt when absent; Error when the file is not a cell qrun wrote.
  Result<std::optional<StoredCell>> read(const std::string& key) const;
  // Publishes the cell and removes its markers.
  Result<void> write(const StoredCell& cell, const nlohmann::json& material) const;

  Result<void> mark_running(const std::string& key, const CellMarker& who) const;
  Result<void> mark_failed(const std::string& key, const CellMarker& what) const;
  void clear_markers(const std::string& key) const;
  std::optional<CellMarker> running(const std::string& key) const;
  std::optional<CellMarker> failed(const std::string& key) const;

 private:
  std::filesystem::path dir_;
};

// The marker of this process: host, pid, shard ("" unsharded), Slurm job (from the environment),
// now as UTC time.
CellMarker this_process(const std::string& shard);
// True when the marker's process is known to be gone: same host and no such pid.
bool marker_process_gone(const CellMarker& m);

}  // namespace qrun::runner
