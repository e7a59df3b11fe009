// Plugin entry of the "gguf_file" backend (gguf_model.hpp) and its load function: file -> config
// and tokenizer (through the hf backend's own readers, from a private temporary folder holding the
// converted config.json and tokenizer files) -> tensors -> the hf backend's model.
#include "gguf_model.hpp"

#include "hf_config.hpp"
#include "loader.hpp"

#include <qrun/plugin.hpp>
#include <qrun/sha256.hpp>
#include <qrun/tokenizer.hpp>

#include <ATen/Context.h>

#include <cstdlib>
#include <fstream>

namespace qrun::gguf_backend {
namespace {

namespace fs = std::filesystem;

// The .gguf file named by `path`: the file itself, or the one .gguf file of a folder.
Result<fs::path> resolve(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (!fs::is_directory(p, ec)) {
    if (!fs::exists(p, ec)) return Error::of(ErrorCode::not_found, path, "does not exist", "give a .gguf file or a folder holding one");
    return p;
  }
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(p, ec))
    if (e.is_regular_file() && e.path().extension() == ".gguf") found.push_back(e.path());
  if (found.size() != 1)
    return Error::of(ErrorCode::not_found, path, found.empty() ? "holds no .gguf file" : "holds " + std::to_string(found.size()) + " .gguf files",
                     "name the .gguf file itself");
  return found.front();
}

// A private temporary folder, removed with its files when the guard ends.
class TempDir {
 public:
  static Result<TempDir> make() {
    std::string tmpl = (fs::temp_directory_path() / "qrun-gguf-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      return Error::of(ErrorCode::io, tmpl, "cannot create a temporary folder", "check TMPDIR and free disk space");
    TempDir d;
    d.path_ = tmpl;
    return d;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Result<void> write_json(const fs::path& p, const nlohmann::json& j) {
  std::ofstream out(p, std::ios::binary);
  out << j.dump(1);
  if (!out) return Error::of(ErrorCode::io, p.string(), "cannot be written", "check TMPDIR and free disk space");
  return {};
}

Result<DType> storage_dtype(const std::string& name) {
  if (name == "auto" || name == "float32") return DType::f32;
  if (name == "bfloat16") return DType::bf16;
  if (name == "float16") return DType::f16;
  return Error{"dtype", "'" + name + "' is not a backend dtype", "use float32, bfloat16, float16 or auto"};
}

Result<c10::Device> pick_device(const std::string& name, RunContext& ctx) {
  if (name == "auto") return ctx.device();
  try {
    c10::Device d(name);
    if (d.is_cuda() && !at::hasCUDA())
      return Error{"device", "'" + name + "' requested but this libtorch has no CUDA device available", "use device = \"cpu\"",
                   ErrorCode::unsupported};
    if (!d.is_cpu() && !d.is_cuda()) return Error{"device", "'" + name + "' is not supported", "use cpu or cuda", ErrorCode::unsupported};
    return d;
  } catch (const std::exception&) {
    return Error{"device", "'" + name + "' is not a device", "use cpu, cuda, cuda:N or auto"};
  }
}

}  // namespace

Result<std::unique_ptr<Model>> load_gguf_model(const Params& p, RunContext& ctx) {
  QRUN_ASSIGN_OR_RETURN(const fs::path file, resolve(p.path));
  QRUN_ASSIGN_OR_RETURN(const gguf::GgufFile f, gguf::GgufFile::open(file));
  QRUN_ASSIGN_OR_RETURN(const gguf::Arch arch, file_arch(f));
  QRUN_ASSIGN_OR_RETURN(const nlohmann::json config, config_from_gguf(f, arch));
  QRUN_ASSIGN_OR_RETURN(const TokenizerFiles tok, tokenizer_from_gguf(f));
  QRUN_ASSIGN_OR_RETURN(TempDir dir, TempDir::make());
  QRUN_TRY(write_json(dir.path() / "config.json", config));
  QRUN_TRY(write_json(dir.path() / "tokenizer.json", tok.tokenizer));
  QRUN_TRY(write_json(dir.path() / "tokenizer_config.json", tok.tokenizer_config));
  auto cfg = hf::read_config(dir.path());
  if (!cfg) return cfg.error().within(file.string() + " (as config.json)", ": ");
  auto tokenizer = load_hf_tokenizer(dir.path());
  if (!tokenizer) return tokenizer.error().within(file.string() + " (as tokenizer.json)", ": ");

  hf::LoadOptions opt;
  QRUN_ASSIGN_OR_RETURN(opt.device, pick_device(p.device, ctx));
  QRUN_ASSIGN_OR_RETURN(opt.storage, storage_dtype(p.dtype));
  opt.compute = opt.storage;
  if (opt.storage == DType::f16 && opt.device.is_cpu()) opt.compute = DType::f32;  // libtorch 1.x: no f16 CPU matmul

  QRUN_ASSIGN_OR_RETURN(Tensors t, tensors_from_gguf(f, arch, cfg->model.num_attention_heads, cfg->model.num_key_value_heads));
  const hf::Checkpoint checkpoint = hf::Checkpoint::from_tensors(file, std::move(t.tensors), std::move(t.metadata));
  ModelSource source;
  source.name = p.path;
  source.folder = file.parent_path();
  QRUN_ASSIGN_OR_RETURN(const std::string digest, sha256_file(file));
  source.file_sha256.emplace_back(file.filename().string(), digest);
  auto model = hf::build_model(*cfg, checkpoint, std::shared_ptr<const Tokenizer>(std::move(*tokenizer)), std::move(source), opt, ctx);
  if (!model) return model.error();
  ctx.info("gguf_file: loaded " + file.string() + " (" + gguf::arch_name(arch) + " as " + cfg->model.architecture + ", " +
           std::to_string(f.tensors().size()) + " tensors) on " + opt.device.str());
  return std::unique_ptr<Model>(std::move(*model));
}

}  // namespace qrun::gguf_backend

namespace {

const auto schema = qrun::schema<qrun::gguf_backend::Params>(
    qrun::field("path", &qrun::gguf_backend::Params::path).doc("a llama.cpp .gguf model file, or a folder holding exactly one"),
    qrun::field("dtype", &qrun::gguf_backend::Params::dtype)
        .choices({"auto", "float32", "bfloat16", "float16"})
        .doc("dtype of the dequantized tensors; auto = float32 (quantized layers keep their ggml blocks)"),
    qrun::field("device", &qrun::gguf_backend::Params::device).doc("cpu, cuda, cuda:N, or auto (the run's device)"));

}  // namespace

QRUN_PLUGIN("gguf_file", "0.1.0",
            qrun::backend("gguf_file", schema,
                          "llama.cpp GGUF model files (llama, qwen2, qwen3, gemma2, gemma3, phi3): quantized layers kept as "
                          "their ggml blocks, run by the hf backend's model",
                          qrun::gguf_backend::load_gguf_model));
