// The "hf" backend: reference -> folder -> config -> dtypes/device -> tokenizer -> weights.
#include "load.hpp"

#include "checkpoint.hpp"
#include "hf_config.hpp"
#include "hub.hpp"
#include "loader.hpp"
#include <qrun/sha256.hpp>

#include <ATen/Context.h>

#include <algorithm>
#include <torch/csrc/api/include/torch/version.h>

namespace qrun::hf {
namespace {

Result<DType> storage_dtype(const HfParams& p, const HfConfig& cfg, const std::filesystem::path& folder) {
  std::string name = p.dtype;
  if (name == "auto") {
    if (cfg.torch_dtype.empty()) return DType::f32;  // transformers' default without torch_dtype
    name = cfg.torch_dtype;
  }
  const auto d = parse_dtype(name);
  if (!d || (*d != DType::f32 && *d != DType::f16 && *d != DType::bf16)) {
    if (p.dtype == "auto")
      return Error{(folder / "config.json").string() + " torch_dtype", "'" + name + "' is not float32, bfloat16 or float16",
                   "set the backend's dtype explicitly", ErrorCode::unsupported};
    return Error{"dtype", "'" + name + "' is not a backend dtype", "use float32, bfloat16, float16 or auto"};
  }
  return *d;
}

Result<c10::Device> pick_device(const std::string& name, RunContext& ctx) {
  if (name == "auto") return ctx.device();
  c10::Device d(c10::kCPU);
  try {
    d = c10::Device(name);
  } catch (const std::exception&) {
    return Error{"device", "'" + name + "' is not a device", "use cpu, cuda, cuda:N or auto"};
  }
  if (d.is_cuda() && !at::hasCUDA())
    return Error{"device", "'" + name + "' requested but this libtorch has no CUDA device available",
                 "use device = \"cpu\" or run on a machine with a GPU", ErrorCode::unsupported};
  if (!d.is_cpu() && !d.is_cuda()) {
    return Error{"device", "'" + name + "' is not supported", "use cpu or cuda", ErrorCode::unsupported};
  }
  return d;
}

// Without generation_config.json's eos_token_id, generate() would stop on config.json's eos only;
// an instruct model ends its turn with Gemma's <end_of_turn> or Llama 3's <|eot_id|> (which the
// hub's generation_config.json lists). Those the tokenizer knows are added to the stop ids.
void add_turn_end_tokens(HfConfig& cfg, const Tokenizer& tok, RunContext& ctx) {
  if (cfg.has_generation_eos) return;
  const char* token = nullptr;
  if (cfg.arch.family == Family::kGemma2 || cfg.arch.family == Family::kGemma3) token = "<end_of_turn>";
  if (cfg.arch.family == Family::kLlama) token = "<|eot_id|>";
  if (token == nullptr) return;
  const auto id = tok.token_to_id(token);
  auto& eos = cfg.model.eos_token_ids;
  if (!id || *id >= cfg.model.vocab_size || std::find(eos.begin(), eos.end(), *id) != eos.end()) return;
  eos.push_back(*id);
  ctx.info("hf: no eos_token_id in generation_config.json; generation also stops on " + std::string(token) + " (id " +
           std::to_string(*id) + ")");
}

}  // namespace

Result<std::unique_ptr<Model>> load_hf_model(const HfParams& p, RunContext& ctx) {
  auto folder = resolve_model(p.path, ctx);
  if (!folder) return folder.error();
  auto cfg = read_config(*folder);
  if (!cfg) return cfg.error();
  auto storage = storage_dtype(p, *cfg, *folder);
  if (!storage) return storage.error();
  auto device = pick_device(p.device, ctx);
  if (!device) return device.error();

  LoadOptions opt;
  opt.device = *device;
  opt.storage = *storage;
  opt.compute = *storage;
#if TORCH_VERSION_MAJOR < 2
  // libtorch 1.x has no float16 matmul on the CPU: weights stay float16, arithmetic is float32.
  if (opt.storage == DType::f16 && opt.device.is_cpu()) {
    opt.compute = DType::f32;
    ctx.warn("hf: float16 weights on CPU with libtorch 1.x"
             " are computed in float32 (storage float16, compute float32)");
  }
#endif

  auto checkpoint = Checkpoint::open(*folder);
  if (!checkpoint) return checkpoint.error();
  auto tokenizer = load_hf_tokenizer(*folder);
  if (!tokenizer) return tokenizer.error();
  add_turn_end_tokens(*cfg, **tokenizer, ctx);

  ModelSource source;
  source.name = p.path;
  source.folder = *folder;
  std::vector<std::filesystem::path> files = {"config.json", "generation_config.json", "tokenizer.json",
                                               "tokenizer_config.json", "model.safetensors.index.json"};
  for (const auto& f : checkpoint->files()) files.push_back(f.filename());
  for (const auto& f : files) {
    if (!std::filesystem::exists(*folder / f)) continue;
    auto digest = sha256_file(*folder / f);
    if (!digest) return digest.error();
    source.file_sha256.emplace_back(f.string(), *digest);
  }

  auto model = build_model(*cfg, *checkpoint, std::shared_ptr<const Tokenizer>(std::move(*tokenizer)),
                           std::move(source), opt, ctx);
  if (!model) return model.error();
  ctx.info("hf: loaded " + p.path + " (" + cfg->model.architecture + ", " +
           std::to_string(cfg->model.num_hidden_layers) + " layers) on " + opt.device.str() + ", storage " +
           std::string(to_string(opt.storage)) + ", compute " + std::string(to_string(opt.compute)));
  return std::unique_ptr<Model>(std::move(*model));
}

}  // namespace qrun::hf
