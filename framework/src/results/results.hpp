// results.json: the one record of a run, as one typed value (Results) that the runner fills and
// the report reads. Written atomically (temp file + rename) after every finished (variant,
// metric) cell, so a killed run resumes where it stopped.
//
// Schema (version 1; keys marked "since" are optional for older documents):
// {
//   "schema_version": 1,
//   "experiment": { ...the resolved experiment, see to_json(const Experiment&)... },
//   "experiment_file": "experiments/seed_study.toml",
//   "provenance": {
//     "qrun_version": "0.1.0", "git_commit": "abc123" | null, "torch_version": "1.13.0",
//     "device": "cpu" | "NVIDIA H100 80GB HBM3" | null, "host": "...",
//     "plugins": [{"id": "quantizers", "version": "0.1.0", "path": "...", "torch_version": "1.13.0",
//                  "components": ["nf4", "fp4"]}],
//     "model": {"name": "...", "folder": "...", "files": {"model.safetensors": "<sha256>", ...}} | null,
//     "datasets": [{"name": "wikitext2", "path": "...", "sha256": "..."}],
//     "overrides": ["model.path=/m", ...],            (since issue 12: the run's --set texts)
//     "started": "2026-11-26T20:13:00Z", "finished": "..." | null, "first_started": "..." (resumed runs)
//     "sessions": [{"kind": "start"|"resume"|"merge", "started": "...", "host": "...", "shard": "1/3" | "",
//                   "job": "<slurm job>" | ""}]     (since issue 17: every process that worked on the run)
//   },
//   "declarations": {                                  (since issue 12: each metric's MetricSpec)
//     "<metric plugin id>": {"compares_to_baseline": false, "needs_dataset": true,
//        "values": [{"name": "ppl", "label": "PPL", "unit": "", "better": "lower", "description": "...",
//                    "counts": "scored tokens", "headline": true, "compare": "change", "chart": "change_vs_baseline",
//                    "criteria": [{"key": "max_ppl_increase_pct", "rule": "increase_pct_at_most",
//                                  "scope": "overall", "doc": "..."}]}]}
//   },
//   "variants": [
//     {
//       "name": "fp16", "baseline": true,
//       "transforms": [{"use": "nf4", "role": "quantizer", "params": {...}, "summary": "..." | null,
//                       "details": {...} | null}],
//       "storage": {"total_bytes": 1, "linear_bytes": 1, "quantized_linear_bytes": 0,
//                   "hf_footprint_bytes": 1, "parameters": 1} | null,
//       "compute_dtype": "float32" | null, "storage_dtype": "bfloat16" | null,
//       "metrics": {
//         "<metric label>": {
//           "use": "perplexity", "dataset": "wikitext2" | null, "params": {...},
//           "values": [{"name": "ppl", "value": 12.3, "stderr": 0.1 | null, "n": 1000,
//                       "unit": "", "better": "lower", "group": ""}],
//           "details": {...}, "method": "...",
//           "reductions": ["the first 4096 of 299078 tokens (max_tokens)"]   (since issue 12)
//         }
//       },
//       "complete": true
//     }
//   ],
//   "complete": true,
//   "error": "..."   (only when the run stopped on an error: its one-line message)
// }
//
// Reading is tolerant of partial documents (a variant without a metric, a missing provenance
// field, a value stored as null for NaN): only a document whose structure is wrong is an error.
// A metric or value without a declaration gets one made from its records (declarations.hpp).
#pragma once

#include <qrun/metric.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

inline constexpr int kResultsSchemaVersion = 1;

struct TransformRecord {
  std::string use;
  std::string role;                    // "defense" | "quantizer" ("" when not recorded)
  nlohmann::json params = nlohmann::json::object();
  std::optional<std::string> summary;  // set once the transform has run
  nlohmann::json details;              // null until the transform has run
};

// One (variant, metric) cell: the metric entry it ran for and what it returned.
struct MetricCell {
  std::string use;                     // the metric plugin id ("" in hand-written files)
  std::optional<std::string> dataset;
  nlohmann::json params = nlohmann::json::object();
  MetricResult result;

  const MetricValue* find(std::string_view name, std::string_view group = "") const;
  bool has_groups() const;
};

struct VariantRecord {
  std::string name;
  bool baseline = false;
  std::vector<TransformRecord> transforms;
  std::optional<ModelStorage> storage;
  std::string compute_dtype, storage_dtype;  // "" when not recorded
  std::map<std::string, MetricCell> metrics; // by metric label
  bool complete = false;

  const MetricCell* metric(std::string_view label) const;
};

struct PluginRecord {
  std::string id, version, path, torch_version;
  std::vector<std::string> components;
};
struct ModelRecord {
  std::string name, folder;
  std::map<std::string, std::string> files;  // file name -> sha256
};
struct DatasetRecord {
  std::string name, path, sha256;
};
// One process that worked on the run folder: the first start, a resumption, a shard, a merge.
struct SessionRecord {
  std::string kind;     // "start" | "resume" | "merge" | "submit" (qrun slurm)
  std::string started;  // UTC "2026-11-26T20:13:00Z"
  std::string host;
  std::string shard;    // "2/3", "" when unsharded
  std::string job;      // Slurm "<array job>_<task>" or "", when not under Slurm
  std::string threads;  // (issue 19) intra-op CPU threads and why: "1 (auto: 2 physical cores, ...)"
};

// Where and with what the numbers were made. Empty strings / nullopt: not recorded.
struct Provenance {
  std::string qrun_version, torch_version, host, started;
  std::optional<std::string> git_commit, device, finished, first_started;
  std::vector<PluginRecord> plugins;
  std::optional<ModelRecord> model;
  std::vector<DatasetRecord> datasets;
  std::vector<std::string> overrides;  // the run's --set texts, in order
  std::vector<SessionRecord> sessions; // (since issue 17) every start and resumption, oldest first
};

struct Results {
  int schema_version = kResultsSchemaVersion;
  nlohmann::json experiment = nlohmann::json::object();  // the resolved experiment, as recorded
  std::string experiment_file;
  Provenance provenance;
  std::map<std::string, MetricSpec> declarations;  // by metric plugin id
  std::vector<VariantRecord> variants;             // file order
  bool complete = false;
  std::optional<std::string> error;                // why the run stopped, when it did

  const VariantRecord* variant(std::string_view name) const;
  VariantRecord* variant(std::string_view name);
  const VariantRecord* baseline() const;  // the variant marked baseline, else nullptr
  // The declarations of a metric (an empty spec when the document has none for `use`).
  const MetricSpec& spec(const std::string& use) const;
  // The declaration of one value of a metric, nullptr when undeclared.
  const ValueSpec* value_spec(const std::string& use, std::string_view name) const;

  // Typed reads of the recorded experiment.
  std::string experiment_name() const;            // "" when not recorded
  std::optional<std::uint64_t> seed() const;
  std::vector<std::string> experiment_metric_labels() const;  // [[metrics]] labels in file order
  nlohmann::json report_table() const;            // experiment.report (an object, possibly empty)
};

// --- JSON -----------------------------------------------------------------------------------
nlohmann::json to_json(const MetricValue& v);
// Errors name the field after the value's name: "ppl.better".
Result<MetricValue> metric_value_from_json(const nlohmann::json& j);
nlohmann::json to_json(const MetricResult& r);
Result<MetricResult> metric_result_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ModelStorage& s);
nlohmann::json to_json(const ValueSpec& v);
nlohmann::json to_json(const MetricSpec& s);
// `thing` prefixes errors ("results declarations.perplexity").
Result<MetricSpec> metric_spec_from_json(const nlohmann::json& j, const std::string& thing);

nlohmann::json to_json(const Results& r);
// One variant as stored under "variants" (a per-cell file stores its variant with that one cell).
nlohmann::json variant_json(const VariantRecord& v);
Result<VariantRecord> variant_from_json(const nlohmann::json& j, const std::string& source);
// `source` names the document in errors ("results", or a file path): "<source> variants[1].name".
// Fills in declarations for recorded values that have none (declare_undeclared).
Result<Results> results_from_json(const nlohmann::json& j, const std::string& source = "results");
// Adds a declaration (declare_from_record) for every recorded value whose metric does not
// declare it, and takes compares_to_baseline from the experiment for metrics declared that way.
void declare_undeclared(Results& r);

// --- Files ----------------------------------------------------------------------------------
// Reads and checks a results.json. Errors name the file and key.
Result<Results> read_results(const std::filesystem::path& path);
// Writes JSON to `path` atomically (temp file in the same folder, fsync, rename).
Result<void> write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);
// Writes text atomically (used for report.md and SVGs as well).
Result<void> write_text_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace qrun
