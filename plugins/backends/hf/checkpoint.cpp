// Single-file and sharded safetensors checkpoints (transformers' save_pretrained layout).
#include "checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace qrun::hf {

Result<Checkpoint> Checkpoint::open(const std::filesystem::path& folder) {
  Checkpoint c;
  c.folder_ = folder;
  const auto single = folder / "model.safetensors";
  const auto index = folder / "model.safetensors.index.json";
  if (std::filesystem::exists(single)) {
    auto f = SafetensorsFile::open(single);
    if (!f) return f.error();
    for (const auto& e : f->entries()) c.where_[e.name] = 0;
    c.metadata_ = f->metadata();
    c.files_.push_back(std::move(*f));
    return c;
  }
  if (!std::filesystem::exists(index))
    return Error{folder.string(), "has neither model.safetensors nor model.safetensors.index.json",
                 "point to a Hugging Face model folder with safetensors weights (convert .bin checkpoints first)",
                 ErrorCode::not_found};
  nlohmann::json j;
  try {
    std::ifstream in(index, std::ios::binary);
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return Error{index.string(), std::string("invalid JSON (") + e.what() + ")", "re-download the file", ErrorCode::corrupt_input};
  }
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object())
    return Error{index.string() + " weight_map", "missing or not an object", "re-download the file", ErrorCode::corrupt_input};
  std::map<std::string, std::size_t> file_index;
  for (const auto& [tensor, file_json] : j.at("weight_map").items()) {
    if (!file_json.is_string())
      return Error{index.string() + " weight_map['" + tensor + "']", "is not a file name", "re-download the file",
                   ErrorCode::corrupt_input};
    const std::string file = file_json.get<std::string>();
    // Shards must be plain names inside the folder (no paths: the index is untrusted input).
    if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
        file == "." || file == "..")
      return Error{index.string() + " weight_map['" + tensor + "']", "shard '" + file + "' is not a plain file name",
                   "re-download the file", ErrorCode::corrupt_input};
    auto it = file_index.find(file);
    if (it == file_index.end()) {
      auto f = SafetensorsFile::open(folder / file);
      if (!f) return f.error();
      for (const auto& [k, v] : f->metadata()) c.metadata_.emplace(k, v);  // every shard's, first wins
      it = file_index.emplace(file, c.files_.size()).first;
      c.files_.push_back(std::move(*f));
    }
    if (c.files_[it->second].find(tensor) == nullptr)
      return Error{(folder / file).string() + " tensor '" + tensor + "'",
                   "listed in model.safetensors.index.json but absent from the shard", "re-download the checkpoint",
                   ErrorCode::corrupt_input};
    c.where_[tensor] = it->second;
  }
  return c;
}

Checkpoint Checkpoint::from_tensors(std::filesystem::path origin, std::map<std::string, at::Tensor> tensors,
                                   std::map<std::string, std::string> metadata) {
  Checkpoint c;
  c.folder_ = std::move(origin);
  for (const auto& [name, _] : tensors) c.where_[name] = 0;
  c.memory_ = std::move(tensors);
  c.metadata_ = std::move(metadata);
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

std::vector<std::filesystem::path> Checkpoint::files() const {
  std::vector<std::filesystem::path> out;
  if (files_.empty()) out.push_back(folder_);  // from_tensors: the origin
  for (const auto& f : files_) out.push_back(f.path());
  std::sort(out.begin(), out.end());
  return out;
}

Result<at::Tensor> Checkpoint::load(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    return Error{folder_.string() + " tensor '" + name + "'", "missing from the checkpoint",
                 "use a checkpoint that matches config.json (" + std::to_string(where_.size()) + " tensors present)",
                 ErrorCode::not_found};
  if (auto m = memory_.find(name); m != memory_.end()) return m->second;
  return files_[it->second].load(name);
}

}  // namespace qrun::hf
