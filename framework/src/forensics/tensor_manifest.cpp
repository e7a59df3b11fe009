// Integrity manifests (see tensor_manifest.hpp).
#include "forensics/tensor_manifest.hpp"

#include <qrun/sha256.hpp>

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <string_view>

namespace fs = std::filesystem;

namespace qrun::forensics {

Result<std::vector<TensorDigest>> hash_checkpoint(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    return Error{folder.string(), "is not a folder", "give the checkpoint folder holding *.safetensors files",
                 fs::exists(folder, ec) ? ErrorCode::invalid_argument : ErrorCode::not_found};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder, ec))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  if (ec) return Error{folder.string(), "cannot be listed (" + ec.message() + ")", "check the folder's permissions", ErrorCode::io};
  if (files.empty())
    return Error{folder.string(), "holds no *.safetensors file", "give a checkpoint folder (model.safetensors)",
                 ErrorCode::not_found};
  std::sort(files.begin(), files.end());
  std::vector<TensorDigest> out;
  std::map<std::string, std::string> seen;  // tensor name -> file
  for (const fs::path& file : files) {
    auto st = SafetensorsFile::open(file);
    if (!st) return st.error();
    for (const TensorEntry& e : st->entries()) {
      const std::string fname = file.filename().string();
      if (auto it = seen.find(e.name); it != seen.end())
        return Error{file.string(), "tensor " + e.name + " is also in " + it->second,
                     "remove the duplicate shard from the folder", ErrorCode::corrupt_input};
      seen.emplace(e.name, fname);
      auto t = st->load(e.name);
      if (!t) return t.error();
      const at::Tensor c = t->contiguous();
      const std::string_view bytes(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
      out.push_back({e.name, fname, e.dtype, e.shape, sha256_hex(bytes)});
    }
  }
  std::sort(out.begin(), out.end(), [](const TensorDigest& a, const TensorDigest& b) { return a.name < b.name; });
  return out;
}

nlohmann::json manifest_json(const std::vector<TensorDigest>& digests, const std::string& model) {
  nlohmann::json tensors = nlohmann::json::object();
  for (const TensorDigest& d : digests)
    tensors[d.name] = {{"file", d.file}, {"dtype", d.dtype}, {"shape", d.shape}, {"sha256", d.sha256}};
  return {{"format", kManifestFormat}, {"version", kManifestVersion}, {"model", model}, {"tensors", tensors}};
}

Result<std::vector<TensorDigest>> parse_manifest(const nlohmann::json& j, const std::string& thing) {
  const Error not_manifest{thing, "is not a qrun tensor manifest (format/version/tensors)",
                           "write one with qrun hash --model M --out MANIFEST.json", ErrorCode::corrupt_input};
  if (!j.is_object() || j.value("format", "") != kManifestFormat || !j.contains("tensors") ||
      !j["tensors"].is_object())
    return not_manifest;
  if (j.value("version", 0) != kManifestVersion)
    return Error{thing, "has manifest version " + (j.contains("version") ? j["version"].dump() : std::string("(none)")) +
                            ", this qrun reads " +
                            std::to_string(kManifestVersion),
                 "rewrite it with this qrun's qrun hash", ErrorCode::unsupported};
  std::vector<TensorDigest> out;
  for (const auto& item : j["tensors"].items()) {
    const std::string& name = item.key();
    const nlohmann::json& v = item.value();
    const std::string where = thing + " tensors." + name;
    if (!v.is_object() || !v.contains("sha256") || !v["sha256"].is_string() || !v.contains("dtype") ||
        !v["dtype"].is_string() || !v.contains("shape") || !v["shape"].is_array())
      return Error{where, "lacks sha256, dtype or shape", "rewrite the manifest with qrun hash", ErrorCode::corrupt_input};
    TensorDigest d;
    d.name = name;
    d.file = v.value("file", "");
    d.dtype = v["dtype"].get<std::string>();
    for (const auto& s : v["shape"]) {
      if (!s.is_number_integer()) {
        return Error{where + ".shape", "holds a non-integer", "rewrite the manifest with qrun hash", ErrorCode::corrupt_input};
      }
      d.shape.push_back(s.get<std::int64_t>());
    }
    d.sha256 = v["sha256"].get<std::string>();
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(), [](const TensorDigest& a, const TensorDigest& b) { return a.name < b.name; });
  return out;
}

std::string_view to_string(Mismatch::Kind k) {
  switch (k) {
    case Mismatch::Kind::changed: return "changed";
    case Mismatch::Kind::missing: return "missing";
    case Mismatch::Kind::extra: return "extra";
  }
  return "changed";
}

namespace {
std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}
}  // namespace

std::vector<Mismatch> compare_digests(const std::vector<TensorDigest>& expected,
                                      const std::vector<TensorDigest>& actual) {
  std::map<std::string, const TensorDigest*> want, have;
  for (const auto& d : expected) want[d.name] = &d;
  for (const auto& d : actual) have[d.name] = &d;
  std::vector<Mismatch> out;
  for (const auto& [name, e] : want) {
    auto it = have.find(name);
    if (it == have.end()) {
      out.push_back({Mismatch::Kind::missing, name, "in the manifest, not in the checkpoint"});
      continue;
    }
    const TensorDigest& a = *it->second;
    if (a.dtype != e->dtype)
      out.push_back({Mismatch::Kind::changed, name, "dtype " + a.dtype + " != manifest " + e->dtype});
    else if (a.shape != e->shape)
      out.push_back({Mismatch::Kind::changed, name, "shape " + shape_text(a.shape) + " != manifest " + shape_text(e->shape)});
    else if (a.sha256 != e->sha256)
      out.push_back({Mismatch::Kind::changed, name, "sha256 " + a.sha256.substr(0, 12) + "… != manifest " +
                                                        e->sha256.substr(0, 12) + "…"});
  }
  for (const auto& [name, a] : have)
    if (!want.count(name)) out.push_back({Mismatch::Kind::extra, name, "in the checkpoint, not in the manifest"});
  std::sort(out.begin(), out.end(), [](const Mismatch& a, const Mismatch& b) { return a.name < b.name; });
  return out;
}

}  // namespace qrun::forensics
