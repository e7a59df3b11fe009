// safetensors files (https://huggingface.co/docs/safetensors): a reader written for hostile input
// (mmap; header length bounds; JSON parse; dtype/shape/offset consistency; no overlaps; no
// out-of-file ranges) and an atomic writer.
#pragma once

#include <qrun/error.hpp>
#include <qrun/linear.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qrun {

struct TensorEntry {
  std::string name;
  std::string dtype;                 // as in the header: "F32", "F16", "BF16", "I8", "U8", "I32", "I64", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

class SafetensorsFile {
 public:
  // Opens and validates the whole header; every violation is an Error naming the file (and tensor).
  static Result<SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }  // sorted by name
  const TensorEntry* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A CPU tensor holding a copy of the named tensor's bytes with its dtype and shape.
  Result<at::Tensor> load(const std::string& name) const;

  struct Mapping;  // mmap'd bytes, shared by copies of this object

 private:
  std::filesystem::path path_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<Mapping> map_;
  std::uint64_t data_offset_ = 0;
};

// Writes tensors (any order; written in the given order) with optional "__metadata__" strings,
// to a temporary file renamed into place. Tensors must be contiguous-able CPU or CUDA tensors.
Result<void> write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace qrun
