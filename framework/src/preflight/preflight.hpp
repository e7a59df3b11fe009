// Preflight (issue 18, items 3 and 4): what `qrun run` and `--dry-run` check after the experiment
// validated and before any weight is read or any cell computed. Each failure is one Error
// (`thing: reason; fix: action`), and the run stops before its first cell.
//   - the output folder: every path component fits the file system's name limit, the folder (or
//     its nearest existing parent) is a writable directory, and its file system has room;
//   - every dataset file exists and is readable;
//   - a model given as a local folder: config.json present and a JSON object naming its
//     architecture, every safetensors header valid and inside its file (a truncated download is
//     refused here), the shard index consistent with the shards, tokenizer.json loadable;
//   - memory: the weights the run holds at once (baseline + one variant) against the machine's RAM;
//   - each plugin's own plan-time check (qrun/check.hpp) with the ModelInfo built above.
#pragma once

#include "plan/plan.hpp"

#include <qrun/check.hpp>
#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace qrun {

class Registry;

// What the headers of a local model folder say (tensors empty when `model` names no local
// folder under its `path` parameter, e.g. a hub id). Errors: missing or malformed files.
Result<ModelInfo> describe_model(const PluginUse& model);

// The output folder can be created and written, and its file system has `min_free_bytes` free.
Result<void> check_output_dir(const std::filesystem::path& dir, std::uint64_t min_free_bytes);

// Bytes of RAM the run needs at least for `info` (0 when unknown) against `total_ram_bytes`
// (0: read /proc/meminfo). Error (code resource) when the estimate exceeds the machine's RAM.
Result<void> check_memory(const ModelInfo& info, std::uint64_t total_ram_bytes = 0);

// Every check above, in order, for a plan.
Result<void> preflight(const Plan& plan, const Registry& registry);

// The free space a run wants on its output folder's file system: results.json, report files and
// per-cell files are small; 16 MiB leaves room for a long run's documents.
inline constexpr std::uint64_t kMinFreeOutputBytes = 16ull << 20;

}  // namespace qrun
