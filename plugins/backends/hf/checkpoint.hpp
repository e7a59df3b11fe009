// The tensors of a checkpoint folder: model.safetensors, or the shards that
// model.safetensors.index.json maps tensor names to.
#pragma once

#include <qrun/error.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace qrun::hf {

class Checkpoint {
 public:
  static Result<Checkpoint> open(const std::filesystem::path& folder);
  // Tensors already in memory (CPU), converted from another format (e.g. the gguf_file backend);
  // `origin` names them in errors and files(); `metadata` as a safetensors file's.
  static Checkpoint from_tensors(std::filesystem::path origin, std::map<std::string, at::Tensor> tensors,
                                 std::map<std::string, std::string> metadata);

  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  std::vector<std::string> names() const;                 // sorted
  std::vector<std::filesystem::path> files() const;       // the safetensors files, in name order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // all files', merged
  // A CPU tensor in the checkpoint's dtype; Error naming the file and tensor if absent.
  Result<at::Tensor> load(const std::string& name) const;
  // The safetensors dtype name of `name` as its header states it ("F8_E5M2", "I8"); "" for
  // tensors given in memory or absent.
  std::string stored_dtype(const std::string& name) const {
    const auto it = where_.find(name);
    if (it == where_.end() || it->second >= files_.size()) return {};
    const TensorEntry* e = files_[it->second].find(name);
    return e ? e->dtype : std::string();
  }

 private:
  std::filesystem::path folder_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;  // tensor -> index into files_
  std::map<std::string, std::string> metadata_;
  std::map<std::string, at::Tensor> memory_;  // from_tensors
};

}  // namespace qrun::hf
