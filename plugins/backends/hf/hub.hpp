// Model references -> local folders: a folder path as is, or a Hugging Face hub id
// ("Qwen/Qwen2.5-0.5B-Instruct") looked up in the hub cache and downloaded when absent.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace qrun::hf {

// True for "ORG/NAME" made of [A-Za-z0-9._-] (the hub's repo id syntax).
bool is_hub_id(const std::string& ref);

// The hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub (huggingface_hub's constants.py).
std::filesystem::path hub_cache_dir();

// <cache>/models--ORG--NAME/snapshots/<refs/main>/ when it exists.
std::optional<std::filesystem::path> cached_snapshot(const std::string& id);

// A folder or a hub id -> the local model folder. Downloads into the hub cache layout when the
// id is not cached, unless HF_HUB_OFFLINE is set; sends HF_TOKEN when set.
Result<std::filesystem::path> resolve_model(const std::string& ref, RunContext& ctx);

}  // namespace qrun::hf
