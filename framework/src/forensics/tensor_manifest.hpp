// Integrity manifests of a checkpoint folder: the SHA-256 of every tensor's bytes in its
// *.safetensors files, and the check of a folder against such a manifest (`qrun hash`,
// `qrun verify`). A tensor's digest covers its raw little-endian bytes only; its dtype and shape
// are recorded beside it and compared too.
#pragma once

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace qrun::forensics {

inline constexpr const char* kManifestFormat = "qrun-tensor-manifest";
inline constexpr int kManifestVersion = 1;

struct TensorDigest {
  std::string name;
  std::string file;                  // the safetensors file name, relative to the folder
  std::string dtype;                 // as in the safetensors header ("BF16", "F32", ...)
  std::vector<std::int64_t> shape;
  std::string sha256;                // lower-case hex of the tensor's bytes
};

// Digests of every tensor of every *.safetensors file in `folder` (files and tensors sorted by
// name). Errors name the folder or file; a tensor name found in two files is an error.
Result<std::vector<TensorDigest>> hash_checkpoint(const std::filesystem::path& folder);

nlohmann::json manifest_json(const std::vector<TensorDigest>& digests, const std::string& model);
// Parses a manifest; errors name `thing` (the manifest path) and the bad field.
Result<std::vector<TensorDigest>> parse_manifest(const nlohmann::json& j, const std::string& thing);

struct Mismatch {
  enum class Kind { changed, missing, extra };
  Kind kind = Kind::changed;
  std::string name;
  std::string detail;  // e.g. "sha256 3fa1… != 9b07…", "dtype BF16 != F32"
};
std::string_view to_string(Mismatch::Kind k);  // "changed", "missing", "extra"

// Compares the folder's digests with the manifest's: changed (bytes, dtype or shape), missing
// (in the manifest, not the folder) and extra (in the folder only), sorted by name.
std::vector<Mismatch> compare_digests(const std::vector<TensorDigest>& expected,
                                      const std::vector<TensorDigest>& actual);

}  // namespace qrun::forensics
