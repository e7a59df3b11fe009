// Model identity for cell keys: backend parameters and the digests of the checkpoint's files.
#include "runner/model_identity.hpp"

#include "results/results.hpp"
#include <qrun/sha256.hpp>

#include <cstdlib>
#include <fstream>
#include <set>

namespace qrun::runner {
namespace {

namespace fs = std::filesystem;

// The files the hf backend reads and records (plugins/backends/hf/load.cpp): configuration,
// tokenizer and every safetensors file.
bool is_model_file(const fs::path& p) {
  static const std::set<std::string> named = {"config.json", "generation_config.json", "tokenizer.json",
                                               "tokenizer_config.json", "model.safetensors.index.json"};
  const std::string name = p.filename().string();
  return named.count(name) > 0 || p.extension() == ".safetensors";
}

// A hub id "org/name" in the local Hugging Face cache: the snapshot folder of refs/main.
std::optional<fs::path> hub_snapshot(const std::string& id) {
  const auto slash = id.find('/');
  if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos || id.front() == '.') return std::nullopt;
  fs::path hub;
  if (const char* c = std::getenv("HF_HUB_CACHE"); c && *c) hub = c;
  else if (const char* h = std::getenv("HF_HOME"); h && *h) hub = fs::path(h) / "hub";
  else if (const char* home = std::getenv("HOME"); home && *home) hub = fs::path(home) / ".cache/huggingface/hub";
  else return std::nullopt;
  const fs::path repo = hub / ("models--" + id.substr(0, slash) + "--" + id.substr(slash + 1));
  std::ifstream ref(repo / "refs" / "main");
  std::string commit;
  if (!(ref >> commit)) return std::nullopt;
  std::error_code ec;
  const fs::path snap = repo / "snapshots" / commit;
  if (!fs::is_directory(snap, ec)) return std::nullopt;
  return snap;
}

}  // namespace

Result<std::string> cached_sha256(const fs::path& file, const std::optional<fs::path>& hash_cache) {
  if (!hash_cache) return sha256_file(file);
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  if (ec) return sha256_file(file);
  const auto size = fs::file_size(real, ec);
  const auto mtime = fs::last_write_time(real, ec).time_since_epoch().count();
  if (ec) return sha256_file(file);
  const std::string id = sha256_hex(real.string() + "|" + std::to_string(size) + "|" + std::to_string(mtime));
  const fs::path entry = *hash_cache / id.substr(0, 32);
  std::ifstream in(entry);
  std::string digest;
  if (in >> digest && digest.size() == 64) return digest;
  auto computed = sha256_file(real);
  if (!computed) return computed;
  // A cache that cannot be written only costs time later.
  (void)write_text_atomic(entry, *computed + "\n");
  return computed;
}

Result<nlohmann::json> model_identity(const PluginUse& model, const std::optional<fs::path>& hash_cache) {
  nlohmann::json params = to_json(model.params);
  params.erase("device");
  nlohmann::json id = {{"use", model.use}, {"params", params}, {"folder", nullptr}, {"files", nlohmann::json::object()}};
  auto it = model.params.find("path");
  if (it == model.params.end() || !std::holds_alternative<std::string>(it->second)) return id;
  const std::string path = std::get<std::string>(it->second);
  std::error_code ec;
  std::optional<fs::path> folder;
  if (fs::is_directory(path, ec)) folder = fs::absolute(path).lexically_normal();
  else folder = hub_snapshot(path);
  if (!folder) return id;  // not local yet: the backend will fetch it; the key is its parameters
  id["folder"] = folder->string();
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(*folder, ec))
    if (is_model_file(entry.path()) && fs::is_regular_file(entry.path(), ec)) files.push_back(entry.path());
  if (ec) return Error{folder->string(), "cannot list the model folder (" + ec.message() + ")", "check its permissions", ErrorCode::io};
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    auto digest = cached_sha256(f, hash_cache);
    if (!digest) return digest.error();
    id["files"][f.filename().string()] = *digest;
  }
  return id;
}

}  // namespace qrun::runner
