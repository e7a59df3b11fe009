// Preflight checks before the first cell (see preflight.hpp).
#include "preflight/preflight.hpp"

#include "registry/registry.hpp"

#include <qrun/safetensors.hpp>
#include <qrun/tokenizer.hpp>

#include <nlohmann/json.hpp>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace qrun {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kNameMax = 255;  // NAME_MAX of ext4, xfs, btrfs, tmpfs: bytes per path component

// Strings from files and experiments are echoed cut to 120 characters.
std::string clip(const std::string& s) { return s.size() <= 120 ? s : s.substr(0, 117) + "..."; }

std::string gib(std::uint64_t bytes) {
  std::ostringstream o;
  o.precision(3);
  o << static_cast<double>(bytes) / static_cast<double>(1ull << 30) << " GiB";
  return o.str();
}

// "ORG/NAME": what a backend may resolve through the hub instead of the file system.
bool looks_like_hub_id(const std::string& s) {
  if (s.empty() || s[0] == '/' || s[0] == '.' || s[0] == '~') return false;
  return std::count(s.begin(), s.end(), '/') == 1 && s.back() != '/';
}

Result<nlohmann::json> read_json_object(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Error::of(ErrorCode::io, file.string(), std::string("cannot be read (") + std::strerror(err) + ")",
                     "check the file's permissions");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return Error::of(ErrorCode::corrupt_input, file.string(), "is not valid JSON", "restore the file from the checkpoint");
  if (!j.is_object())
    return Error::of(ErrorCode::corrupt_input, file.string(), "is not a JSON object", "restore the file from the checkpoint");
  return j;
}

Result<void> read_architecture(const fs::path& folder, ModelInfo& info) {
  const fs::path file = folder / "config.json";
  std::error_code ec;
  if (!fs::exists(file, ec))
    return Error::of(ErrorCode::not_found, file.string(), "missing (the model folder has no config.json)",
                     "use a complete checkpoint folder: config.json, *.safetensors, tokenizer.json");
  auto j = read_json_object(file);
  if (!j) return j.error();
  const auto it = j->find("architectures");
  if (it != j->end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    info.architecture = (*it)[0].get<std::string>();
  return {};
}

// The shard files: those the index names, else every *.safetensors of the folder.
Result<std::vector<fs::path>> shard_files(const fs::path& folder, nlohmann::json* weight_map) {
  const fs::path index = folder / "model.safetensors.index.json";
  std::error_code ec;
  std::set<std::string> names;
  if (fs::exists(index, ec)) {
    auto j = read_json_object(index);
    if (!j) return j.error();
    const auto wm = j->find("weight_map");
    if (wm == j->end() || !wm->is_object() || wm->empty())
      return Error::of(ErrorCode::corrupt_input, index.string() + " weight_map", "missing or empty",
                       "restore the index from the checkpoint");
    for (const auto& [tensor, file] : wm->items()) {
      const std::string f = file.is_string() ? file.get<std::string>() : "";
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        return Error::of(ErrorCode::corrupt_input, index.string() + " weight_map." + clip(tensor),
                         "must name a file of the model folder, got " + clip(file.dump()),
                         "restore the index from the checkpoint");
      names.insert(f);
    }
    *weight_map = *wm;
  } else {
    for (const auto& e : fs::directory_iterator(folder, ec)) {
      if (e.path().extension() == ".safetensors") names.insert(e.path().filename().string());
    }
    if (ec)
      return Error::of(ErrorCode::io, folder.string(), "cannot be listed (" + ec.message() + ")",
                       "check the folder's permissions");
  }
  if (names.empty())
    return Error::of(ErrorCode::not_found, folder.string(), "holds no *.safetensors file",
                     "use a checkpoint folder with its weights (model.safetensors or shards with their index)");
  std::vector<fs::path> out;
  for (const std::string& n : names) out.push_back(folder / n);
  return out;
}

Result<void> read_tensors(const fs::path& folder, ModelInfo& info) {
  nlohmann::json weight_map;
  auto shards = shard_files(folder, &weight_map);
  if (!shards) return shards.error();
  std::map<std::string, std::string> owner;  // tensor -> shard file name
  for (const fs::path& shard : *shards) {
    std::error_code ec;
    if (!fs::exists(shard, ec))
      return Error::of(ErrorCode::not_found, shard.string(), "missing (model.safetensors.index.json names it)",
                       "download every shard of the checkpoint");
    auto file = SafetensorsFile::open(shard);  // header bounds, offsets inside the file (truncation)
    if (!file) return file.error();
    for (const TensorEntry& e : file->entries()) {
      if (auto [it, fresh] = owner.emplace(e.name, shard.filename().string()); !fresh)
        return Error::of(ErrorCode::corrupt_input, shard.string() + " " + clip(e.name),
                         "is also stored in " + it->second, "keep one copy of each tensor");
      info.tensors.push_back(TensorInfo{e.name, e.dtype, e.shape});
      info.weight_bytes += e.end - e.begin;
    }
  }
  if (weight_map.is_object()) {
    for (const auto& [tensor, file] : weight_map.items()) {
      const auto it = owner.find(tensor);
      if (it == owner.end() || it->second != file.get<std::string>())
        return Error::of(ErrorCode::corrupt_input, (folder / "model.safetensors.index.json").string() + " " + clip(tensor),
                         "is not in " + clip(file.get<std::string>()) + " as the index says",
                         "restore the index and shards from one checkpoint");
    }
  }
  std::sort(info.tensors.begin(), info.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return {};
}

// Runs a plugin's check; an exception is the plugin's bug, reported as such.
Result<void> run_check(ParamCheck check, const PluginUse& use, const ModelInfo& info, const std::string& thing) {
  try {
    auto r = check(use.params, info);
    if (!r) return r.error().within(thing);
    return {};
  } catch (const std::exception& e) {
    return Error::of(ErrorCode::internal, thing, std::string("plan-time check threw: ") + e.what(),
                     "report this to the plugin's author");
  }
}

}  // namespace

Result<ModelInfo> describe_model(const PluginUse& model) {
  ModelInfo info;
  info.backend = model.use;
  const auto p = model.params.find("path");
  if (p == model.params.end() || !std::holds_alternative<std::string>(p->second)) return info;
  const std::string path = std::get<std::string>(p->second);
  const std::string thing = model.where.empty() ? "model.path" : model.where + " model.path";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (looks_like_hub_id(path)) return info;  // resolved (and checked) by the backend
    return Error::of(ErrorCode::not_found, thing, "'" + clip(path) + "' does not exist",
                     "give a model folder, or a hub id such as Qwen/Qwen2.5-0.5B-Instruct");
  }
  if (!fs::is_directory(path, ec)) return info;  // a single-file model (e.g. .gguf): the backend reads it
  info.folder = path;
  QRUN_TRY(read_architecture(info.folder, info));
  QRUN_TRY(read_tensors(info.folder, info));
  if (fs::exists(info.folder / "tokenizer.json", ec)) {
    auto tok = load_hf_tokenizer(info.folder);
    if (!tok) return tok.error();
  }
  return info;
}

Result<void> check_output_dir(const fs::path& dir, std::uint64_t min_free_bytes) {
  if (dir.empty()) return Error{"output folder", "is empty", "name a folder, e.g. --output reports/my_run"};
  for (const fs::path& part : dir) {
    const std::string name = part.string();
    if (name.size() > kNameMax)
      return Error{clip(dir.string()),
                   "the folder name '" + clip(name) + "' is " + std::to_string(name.size()) +
                       " bytes, longer than the file system's limit of " + std::to_string(kNameMax),
                   "shorten experiment.name, or pass --output DIR"};
  }
  if (dir.string().size() >= PATH_MAX)
    return Error{clip(dir.string()), "is longer than the system's path limit", "pass a shorter --output DIR"};
  std::error_code ec;
  fs::path existing = fs::absolute(dir, ec);
  while (!existing.empty() && !fs::exists(existing, ec) && existing != existing.parent_path())
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec))
    return Error::of(ErrorCode::io, existing.string(), "is not a folder", "pass --output DIR naming a folder");
  if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    return Error::of(ErrorCode::io, existing.string(),
                     std::string("is not writable (") + std::strerror(err) + ")" +
                         (existing == fs::absolute(dir, ec) ? "" : "; the output folder would be created in it"),
                     "choose a writable --output DIR");
  }
  struct statvfs st {};
  if (::statvfs(existing.c_str(), &st) == 0) {
    const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    if (free < min_free_bytes)
      return Error::of(ErrorCode::resource, existing.string(),
                       "its file system has " + std::to_string(free >> 10) + " KiB free; a run needs at least " +
                           std::to_string(min_free_bytes >> 20) + " MiB for results.json and the report",
                       "free disk space, or choose another --output DIR");
  }
  return {};
}

Result<void> check_memory(const ModelInfo& info, std::uint64_t total_ram_bytes) {
  if (info.weight_bytes == 0) return {};
  if (total_ram_bytes == 0) {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit) {
      if (key == "MemTotal:") {
        total_ram_bytes = kib * 1024;
        break;
      }
    }
    if (total_ram_bytes == 0) return {};  // unknown: nothing to compare against
  }
  // The runner holds the baseline and the variant built from it at the same time.
  const std::uint64_t need = 2 * info.weight_bytes;
  if (need > total_ram_bytes)
    return Error::of(ErrorCode::resource, info.folder.empty() ? "model" : info.folder.string(),
                     "its weights take " + gib(info.weight_bytes) + "; a run holds the baseline and one variant (" +
                         gib(need) + "), more than this machine's " + gib(total_ram_bytes) + " of RAM",
                     "use a smaller model, or a machine with more memory");
  return {};
}

Result<void> preflight(const Plan& plan, const Registry& registry) {
  QRUN_TRY(check_output_dir(plan.output_dir, kMinFreeOutputBytes));
  for (std::size_t i = 0; i < plan.datasets.size(); ++i) {
    const DatasetEntry& d = plan.datasets[i];
    std::ifstream in(d.path, std::ios::binary);
    if (!in) {
      const int err = errno;
      return Error::of(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                       (d.where.empty() ? "" : d.where + " ") + "datasets[" + std::to_string(i) + "].path",
                       "'" + clip(d.path.string()) + "' cannot be read (" + std::strerror(err) + ")",
                       "check the path (relative paths resolve against the current folder), or override it with "
                       "--set datasets[" + std::to_string(i) + "].path=FILE");
    }
  }
  auto info = describe_model(plan.model);
  if (!info) return info.error();
  QRUN_TRY(check_memory(*info));
  if (ParamCheck c = registry.check_of(plan.model.use))
    QRUN_TRY(run_check(c, plan.model, *info, plan.model.where + " model"));
  for (const PlannedVariant& v : plan.variants) {
    for (const TransformEntry& t : v.chain) {
      if (ParamCheck c = registry.check_of(t.use))
        QRUN_TRY(run_check(c, t, *info, t.where + " variant '" + clip(v.name) + "' " + t.use));
    }
  }
  for (const MetricEntry& m : plan.metrics) {
    if (ParamCheck c = registry.check_of(m.use)) QRUN_TRY(run_check(c, m, *info, m.where + " metric '" + m.label + "'"));
  }
  return {};
}

}  // namespace qrun
