// Hub cache lookup (huggingface_hub's cache layout: models--ORG--NAME/{refs/main, snapshots/REV})
// and downloads over HTTPS from https://huggingface.co/<id>/resolve/<rev>/<file> with libcurl.
#include "hub.hpp"

#include <nlohmann/json.hpp>

#ifdef QRUN_WITH_CURL
#include <curl/curl.h>
#endif

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

namespace qrun::hf {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_true(const char* name) {
  std::string v = env(name);
  for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string cache_folder_name(const std::string& id) {
  const auto slash = id.find('/');
  return "models--" + id.substr(0, slash) + "--" + id.substr(slash + 1);
}

std::string download_fix(const std::string& id) {
  return "run `huggingface-cli download " + id + "` on a machine with network access (and copy " +
         (hub_cache_dir() / cache_folder_name(id)).string() + " here), or set path to a local model folder";
}

#ifdef QRUN_WITH_CURL
struct Transfer {
  std::FILE* file = nullptr;
  std::unique_ptr<Progress> progress;
  const RunContext* ctx = nullptr;
  std::string label;
  curl_off_t reported = 0;
  std::string commit;  // X-Repo-Commit header
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  const std::string key = "x-repo-commit:";
  if (line.size() > key.size()) {
    std::string lower = line.substr(0, key.size());
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == key) {
      std::string v = line.substr(key.size());
      while (!v.empty() && (v.front() == ' ')) v.erase(v.begin());
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
      t->commit = v;
    }
  }
  return size * n;
}

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return std::fwrite(data, size, n, t->file) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (total > 0 && !t->progress) t->progress = t->ctx->progress(t->label, static_cast<std::int64_t>(total));
  if (t->progress && now > t->reported) {
    t->progress->advance(static_cast<std::int64_t>(now - t->reported));
    t->reported = now;
  }
  return 0;
}

// GET url into `dest` (temp file + rename). Returns the HTTP status, or an Error on network failure.
Result<long> http_get(const std::string& id, const std::string& url, const std::filesystem::path& dest,
                      RunContext& ctx, std::string* commit) {
  const std::filesystem::path tmp = dest.string() + ".incomplete";
  Transfer t;
  t.ctx = &ctx;
  t.label = "download " + dest.filename().string();
  t.file = std::fopen(tmp.c_str(), "wb");
  if (t.file == nullptr)
    return Error{tmp.string(), "cannot create file", "check that the hub cache folder is writable (HF_HOME)", ErrorCode::io};
  CURL* curl = curl_easy_init();
  struct curl_slist* headers = nullptr;
  const std::string token = env("HF_TOKEN");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "qrun/0.1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 0L);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  const bool write_ok = std::fclose(t.file) == 0;
  if (t.progress) t.progress->finish();
  if (rc != CURLE_OK) {
    std::filesystem::remove(tmp);
    return Error{url, std::string("download failed: ") + curl_easy_strerror(rc), download_fix(id), ErrorCode::io};
  }
  if (status != 200 || !write_ok) {
    std::filesystem::remove(tmp);
    if (!write_ok) return Error{dest.string(), "write failed (disk full?)", "free disk space and retry", ErrorCode::io};
    return status;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dest, ec);
  if (ec) return Error{dest.string(), "cannot move download into place: " + ec.message(), "check permissions", ErrorCode::io};
  if (commit != nullptr) *commit = t.commit;
  return status;
}

Result<std::filesystem::path> download(const std::string& id, RunContext& ctx) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const auto repo = hub_cache_dir() / cache_folder_name(id);
  const auto staging = repo / "snapshots" / ".qrun-download";
  std::error_code ec;
  std::filesystem::create_directories(staging, ec);
  if (ec) return Error{staging.string(), "cannot create: " + ec.message(), "set HF_HOME to a writable folder", ErrorCode::io};
  const std::string base = "https://huggingface.co/" + id + "/resolve/main/";
  auto status_error = [&](const std::string& file, long status) {
    if (status == 401 || status == 403)
      return Error{id, "the hub refused " + file + " (HTTP " + std::to_string(status) + "): gated or private model",
                   "accept the licence on huggingface.co and set HF_TOKEN to a token with read access", ErrorCode::io};
    if (status == 404)
      return Error{id, file + " not found on the hub (HTTP 404)", "check the model id's spelling", ErrorCode::not_found};
    return Error{id, "the hub answered HTTP " + std::to_string(status) + " for " + file, download_fix(id), ErrorCode::io};
  };
  ctx.info("downloading " + id + " from huggingface.co into " + repo.string());
  std::string commit;
  auto st = http_get(id, base + "config.json", staging / "config.json", ctx, &commit);
  if (!st) return st.error();
  if (*st != 200) return status_error("config.json", *st);
  // Required and optional files; the weights either as one file or as an index plus shards.
  for (const char* file : {"tokenizer.json"}) {
    auto s = http_get(id, base + file, staging / file, ctx, nullptr);
    if (!s) return s.error();
    if (*s != 200) return status_error(file, *s);
  }
  for (const char* file : {"generation_config.json", "tokenizer_config.json"}) {
    auto s = http_get(id, base + file, staging / file, ctx, nullptr);
    if (!s) return s.error();
  }
  auto single = http_get(id, base + "model.safetensors", staging / "model.safetensors", ctx, nullptr);
  if (!single) return single.error();
  if (*single == 404) {
    auto idx = http_get(id, base + "model.safetensors.index.json", staging / "model.safetensors.index.json", ctx, nullptr);
    if (!idx) return idx.error();
    if (*idx != 200) return status_error("model.safetensors(.index.json)", *idx);
    nlohmann::json j;
    try {
      std::ifstream in(staging / "model.safetensors.index.json");
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      return Error{id + " model.safetensors.index.json", std::string("invalid JSON (") + e.what() + ")", download_fix(id),
                   ErrorCode::corrupt_input};
    }
    std::vector<std::string> shards;
    if (j.contains("weight_map") && j["weight_map"].is_object())
      for (const auto& [_, f] : j["weight_map"].items())
        if (f.is_string() && std::find(shards.begin(), shards.end(), f.get<std::string>()) == shards.end())
          shards.push_back(f.get<std::string>());
    for (const auto& f : shards) {
      if (f.find('/') != std::string::npos || f == "..")
        return Error{id + " model.safetensors.index.json", "shard name '" + f + "' is not a plain file name", download_fix(id),
                     ErrorCode::corrupt_input};
      auto s = http_get(id, base + f, staging / f, ctx, nullptr);
      if (!s) return s.error();
      if (*s != 200) return status_error(f, *s);
    }
  } else if (*single != 200) {
    return status_error("model.safetensors", *single);
  }
  if (commit.empty()) commit = "main";
  const auto snapshot = repo / "snapshots" / commit;
  std::filesystem::remove_all(snapshot, ec);
  std::filesystem::rename(staging, snapshot, ec);
  if (ec) return Error{snapshot.string(), "cannot move download into place: " + ec.message(), "check permissions", ErrorCode::io};
  std::filesystem::create_directories(repo / "refs", ec);
  {
    std::ofstream ref(repo / "refs" / "main.tmp", std::ios::trunc);
    ref << commit;
  }
  std::filesystem::rename(repo / "refs" / "main.tmp", repo / "refs" / "main", ec);
  return snapshot;
}
#endif

}  // namespace

bool is_hub_id(const std::string& ref) {
  const auto slash = ref.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == ref.size() || ref.find('/', slash + 1) != std::string::npos)
    return false;
  if (ref.front() == '.' || ref.find("..") != std::string::npos) return false;
  for (char ch : ref)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' || ch == '/')) return false;
  return true;
}

std::filesystem::path hub_cache_dir() {
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HF_HOME"); !v.empty()) return std::filesystem::path(v) / "hub";
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return std::filesystem::path(v) / "huggingface" / "hub";
  return std::filesystem::path(env("HOME")) / ".cache" / "huggingface" / "hub";
}

std::optional<std::filesystem::path> cached_snapshot(const std::string& id) {
  const auto repo = hub_cache_dir() / cache_folder_name(id);
  std::ifstream ref(repo / "refs" / "main");
  std::string rev;
  if (!(ref >> rev) || rev.empty() || rev.find('/') != std::string::npos || rev == "..") return std::nullopt;
  const auto snapshot = repo / "snapshots" / rev;
  if (!std::filesystem::exists(snapshot / "config.json")) return std::nullopt;
  return snapshot;
}

Result<std::filesystem::path> resolve_model(const std::string& ref, RunContext& ctx) {
  std::error_code ec;
  if (ref.empty()) return Error{"path", "is empty", "set path to a model folder or a hub id such as Qwen/Qwen2.5-0.5B-Instruct"};
  if (std::filesystem::is_directory(ref, ec)) return std::filesystem::path(ref);
  if (!is_hub_id(ref))
    return Error{"path '" + ref + "'", "is neither a folder nor a hub id (ORG/NAME)",
                 "give an existing model folder or a hub id such as Qwen/Qwen2.5-0.5B-Instruct", ErrorCode::not_found};
  if (auto snap = cached_snapshot(ref)) {
    ctx.debug("model " + ref + " found in the hub cache: " + snap->string());
    return *snap;
  }
  if (env_true("HF_HUB_OFFLINE"))
    return Error{ref, "not in the hub cache (" + hub_cache_dir().string() + ") and HF_HUB_OFFLINE is set",
                 "run `huggingface-cli download " + ref + "` with network access, or unset HF_HUB_OFFLINE", ErrorCode::not_found};
#ifdef QRUN_WITH_CURL
  return download(ref, ctx);
#else
  return Error{ref, "not in the hub cache (" + hub_cache_dir().string() + ") and this qrun was built without libcurl",
               "run `huggingface-cli download " + ref + "`, or set path to a local model folder", ErrorCode::not_found};
#endif
}

}  // namespace qrun::hf
