// results.json: the one record of a run. Written atomically (temp file + rename) after every
// finished (variant, metric) cell, so a killed run resumes where it stopped.
//
// Schema (version 1):
// {
//   "schema_version": 1,
//   "experiment": { ...the resolved experiment, see to_json(const Experiment&)... },
//   "experiment_file": "experiments/seed_study.toml",
//   "provenance": {
//     "qrun_version": "0.1.0", "git_commit": "abc123" | null, "torch_version": "1.13.0",
//     "device": "cpu" | "NVIDIA H100 80GB HBM3", "host": "...",
//     "plugins": [{"id": "quantizers", "version": "0.1.0", "path": "..."}],
//     "model": {"name": "...", "folder": "...", "files": {"model.safetensors": "<sha256>", ...}},
//     "datasets": [{"name": "wikitext2", "path": "...", "sha256": "..."}],
//     "started": "2026-11-26T20:13:00Z", "finished": "2026-11-26T20:14:00Z" | null
//   },
//   "variants": [
//     {
//       "name": "fp16", "baseline": true,
//       "transforms": [{"use": "nf4", "params": {...}, "summary": "...", "details": {...}}],
//       "storage": {"total_bytes": 1, "linear_bytes": 1, "quantized_linear_bytes": 0,
//                   "hf_footprint_bytes": 1, "parameters": 1},
//       "compute_dtype": "float32", "storage_dtype": "bfloat16",
//       "metrics": {
//         "<metric label>": {
//           "use": "perplexity", "dataset": "wikitext2" | null, "params": {...},
//           "values": [{"name": "ppl", "value": 12.3, "stderr": 0.1 | null, "n": 1000,
//                       "unit": "", "better": "lower", "group": ""}],
//           "details": {...}, "method": "..."
//         }
//       },
//       "complete": true
//     }
//   ],
//   "complete": true,
//   "error": "..."   (only when the run stopped on an error: its one-line message)
// }
#pragma once

#include <qrun/metric.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun {

inline constexpr int kResultsSchemaVersion = 1;

nlohmann::json to_json(const MetricValue& v);
Result<MetricValue> metric_value_from_json(const nlohmann::json& j);
nlohmann::json to_json(const MetricResult& r);
Result<MetricResult> metric_result_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ModelStorage& s);

// Reads and checks a results.json (schema version, required fields). Errors name the file and key.
Result<nlohmann::json> read_results(const std::filesystem::path& path);
// Writes JSON to `path` atomically (temp file in the same folder, fsync, rename).
Result<void> write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);
// Writes text atomically (used for report.md and SVGs as well).
Result<void> write_text_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace qrun
