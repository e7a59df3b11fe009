// What a model is, for cell keys: the backend, its parameters (without the device, which does not
// change which numbers a cell stands for) and the SHA-256 of the model's files when the backend's
// `path` names a local folder or a Hugging Face hub id already in the local cache. Internal.
#pragma once

#include "experiment/experiment.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace qrun::runner {

// {"use": backend, "params": {...without "device"}, "folder": "/abs" | null,
//  "files": {"config.json": "<sha256>", ...}}. `hash_cache`, when given, keeps each file's digest
// under a name made of its absolute path, size and modification time, so that a later process
// (another shard, `qrun status`) does not read a large checkpoint again.
Result<nlohmann::json> model_identity(const PluginUse& model, const std::optional<std::filesystem::path>& hash_cache);

// The SHA-256 of a file through the cache described above (no cache: plain sha256_file).
Result<std::string> cached_sha256(const std::filesystem::path& file, const std::optional<std::filesystem::path>& hash_cache);

}  // namespace qrun::runner
