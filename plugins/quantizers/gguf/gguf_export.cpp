// GGUF model export (gguf_export.hpp): tensors in llama.cpp's names and layouts.
//   linear layers of kind "gguf"   their ggml blocks as they are (Llama q/k: rows permuted, which
//                                  equals quantizing the permuted matrix: ggml quantizes row by row)
//   dense linear layers, lm_head   the model's storage dtype (f32 / f16 / bf16)
//   token embedding                the blocks the gguf transform made, else the storage dtype
//   norms and biases (1-D)         f32, as the converter writes 1-D tensors; Gemma norms as 1 + w
#include "gguf_export.hpp"

#include "gguf_linear.hpp"

#include <qrun/linear_kind.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <fstream>
#include <regex>

namespace qrun::gguf {
namespace {

struct OutTensor {
  std::string name;              // GGUF name
  std::vector<std::int64_t> ne;  // ggml order
  GgmlType type;
  at::Tensor bytes;              // U8, contiguous, CPU
};

std::int64_t layer_of(const std::string& gguf_name) {
  static const std::regex blk(R"(^blk\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(gguf_name, m, blk) ? std::stoll(m[1]) : -1;
}

at::Tensor as_bytes(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU).contiguous();
  return at::from_blob(c.data_ptr(), {static_cast<std::int64_t>(c.numel() * c.element_size())}, at::kByte).clone();
}

// A float tensor in the ggml type matching its dtype (f32, f16, bf16; others as f32).
std::pair<GgmlType, at::Tensor> float_tensor(const at::Tensor& t) {
  if (t.scalar_type() == at::kHalf) return {GgmlType::f16, as_bytes(t)};
  if (t.scalar_type() == at::kBFloat16) return {GgmlType::bf16, as_bytes(t)};
  return {GgmlType::f32, as_bytes(t.to(at::kFloat))};
}

std::vector<std::int64_t> ggml_shape(const at::Tensor& t) {
  std::vector<std::int64_t> ne(t.sizes().rbegin(), t.sizes().rend());
  return ne;
}

// Llama's q/k permutation on whole rows of `bytes` (rows of row_bytes).
at::Tensor permute_rows(const at::Tensor& bytes, std::int64_t rows, std::int64_t n_head) {
  at::Tensor out = at::empty_like(bytes);
  const auto row_bytes = static_cast<std::size_t>(bytes.numel() / rows);
  permute_qk_rows(bytes.data_ptr<std::uint8_t>(), out.data_ptr<std::uint8_t>(), rows, row_bytes, n_head, false);
  return out;
}

struct Exporter {
  Model& model;
  Arch arch;
  const ExportRequest& req;
  std::vector<OutTensor> out;

  // Heads a q or k tensor is permuted by (0: not permuted).
  std::int64_t qk_heads(const std::string& hf_name) const {
    if (!permutes_qk(arch)) return 0;
    if (hf_name.find("self_attn.q_proj.") != std::string::npos) return model.config().num_attention_heads;
    if (hf_name.find("self_attn.k_proj.") != std::string::npos) return model.config().num_key_value_heads;
    return 0;
  }

  Result<std::string> name_of(const std::string& hf) const {
    auto n = gguf_tensor_name(arch, hf);
    if (!n) return Error::of(ErrorCode::unsupported, hf, std::string("has no tensor name in llama.cpp's ") + arch_name(arch) + " layout",
                             "export a model whose tensors the converter maps");
    return *n;
  }

  void add(std::string name, std::vector<std::int64_t> ne, GgmlType type, at::Tensor bytes, std::int64_t heads) {
    if (heads > 0) bytes = permute_rows(bytes, ne.size() > 1 ? ne[1] : ne[0], heads);
    out.push_back({std::move(name), std::move(ne), type, std::move(bytes)});
  }

  Result<void> add_linear(const std::string& layer) {
    const LinearImpl& l = model.linear(layer);
    QRUN_ASSIGN_OR_RETURN(const std::string wname, name_of(layer + ".weight"));
    const std::int64_t heads = qk_heads(layer + ".weight");
    if (l.kind() == "gguf") {
      const nlohmann::json meta = l.metadata();
      const auto type = parse_type(meta.value("type", std::string()));
      if (!type) return Error::of(ErrorCode::internal, layer, "gguf layer without a type", "re-run the gguf quantizer");
      for (const auto& [suffix, t] : l.state())
        if (suffix == "weight") add(wname, {l.in_features(), l.out_features()}, *type, t.to(at::kCPU).contiguous(), heads);
    } else if (l.kind() == "dense") {
      auto [type, bytes] = float_tensor(l.weight(to_scalar_type(model.storage_dtype())));
      add(wname, {l.in_features(), l.out_features()}, type, bytes, heads);
    } else {
      return Error::of(ErrorCode::unsupported, layer, "is a '" + l.kind() + "' layer, which has no ggml type",
                       "quantize with the gguf quantizer (or leave the layer dense) to export GGUF");
    }
    if (at::Tensor b = l.bias(); b.defined()) {
      QRUN_ASSIGN_OR_RETURN(const std::string bname, name_of(layer + ".bias"));
      add(bname, {b.numel()}, GgmlType::f32, as_bytes(b.to(at::kFloat)), qk_heads(layer + ".bias"));
    }
    return {};
  }

  Result<void> add_other(const std::string& hf, const at::Tensor& t) {
    if (hf.ends_with("rotary_emb.inv_freq")) return {};
    QRUN_ASSIGN_OR_RETURN(const std::string name, name_of(hf));
    if (name == "token_embd.weight" && req.embedding_blocks.defined()) {
      add(name, ggml_shape(t), *req.embedding_type, req.embedding_blocks.to(at::kCPU).contiguous(), 0);
      return {};
    }
    if (t.dim() == 1) {
      at::Tensor v = t.to(at::kCPU).to(at::kFloat);
      if (norm_plus_one(arch) && is_norm_weight(hf)) v = v + 1.0;  // Gemma: data_torch + 1
      add(name, {t.numel()}, GgmlType::f32, as_bytes(v), qk_heads(hf));
      return {};
    }
    auto [type, bytes] = float_tensor(t.to(at::kCPU));
    add(name, ggml_shape(t), type, bytes, qk_heads(hf));
    return {};
  }
};

std::string folder_name(const std::filesystem::path& p) {
  std::filesystem::path q = p;
  if (q.filename().empty()) q = q.parent_path();
  return q.filename().string();
}

}  // namespace

Result<std::string> export_gguf(Model& model, const ExportRequest& req, RunContext& ctx) {
  const std::filesystem::path folder = model.source().folder;
  const std::string cfile = (folder / "config.json").string();
  std::ifstream in(folder / "config.json", std::ios::binary);
  if (!in) return Error::of(ErrorCode::not_found, cfile, "cannot be read (the GGUF export reads the model's config.json)",
                            "export a model loaded from a Hugging Face folder");
  const nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return Error::of(ErrorCode::corrupt_input, cfile, "is not a JSON object", "fix the file");
  const auto arch = arch_from_hf(model.config().architecture);
  if (!arch) return Error::of(ErrorCode::unsupported, model.config().architecture, "has no GGUF export in qrun",
                              "export a Llama, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3 or Phi-3 model");
  const auto ftype = llama_ftype(req.file_type);
  if (!ftype) return Error::of(ErrorCode::invalid_argument, "gguf.type", "'" + req.file_type + "' has no llama.cpp file type",
                               "use a ggml type or llama-quantize mix name");
  QRUN_ASSIGN_OR_RETURN(ArchMetadata meta, arch_metadata(*arch, config, cfile, folder_name(folder), *ftype));
  QRUN_ASSIGN_OR_RETURN(std::vector<KeyValue> vocab, tokenizer_metadata(folder, model.config().vocab_size));

  Exporter ex{model, *arch, req, {}};
  if (!meta.rope_freqs.empty()) {
    at::Tensor f = at::tensor(meta.rope_freqs, at::TensorOptions().dtype(at::kFloat));
    ex.add("rope_freqs.weight", {f.numel()}, GgmlType::f32, as_bytes(f), 0);
  }
  for (const std::string& layer : model.linear_names()) QRUN_TRY(ex.add_linear(layer));
  for (auto& [name, t] : model.other_tensors()) QRUN_TRY(ex.add_other(name, t));
  // The converter's order: token_embd first, then layer by layer, output_norm and output last.
  auto rank = [](const OutTensor& t) -> std::pair<std::int64_t, std::string> {
    if (t.name == "token_embd.weight" || t.name == "rope_freqs.weight") return {-1, t.name};
    const std::int64_t l = layer_of(t.name);
    return {l >= 0 ? l : std::numeric_limits<std::int64_t>::max(), t.name};
  };
  std::stable_sort(ex.out.begin(), ex.out.end(), [&](const OutTensor& a, const OutTensor& b) { return rank(a) < rank(b); });

  GgufWriter w(req.out);
  for (KeyValue& kv : meta.kv) QRUN_TRY(w.add_metadata(kv.key, std::move(kv.value)));
  for (KeyValue& kv : vocab) QRUN_TRY(w.add_metadata(kv.key, std::move(kv.value)));
  for (const OutTensor& t : ex.out) QRUN_TRY(w.add_tensor(t.name, t.ne, t.type));
  for (const OutTensor& t : ex.out)
    QRUN_TRY(w.write_tensor(t.name, {t.bytes.data_ptr<std::uint8_t>(), static_cast<std::size_t>(t.bytes.numel())}));
  QRUN_TRY(w.finish());
  ctx.info("gguf: wrote " + req.out.string() + " (" + arch_name(*arch) + ", " + std::to_string(ex.out.size()) + " tensors, " +
           req.file_type + ")");
  return "wrote " + req.out.string() + ": GGUF v3, " + arch_name(*arch) + ", " + std::to_string(ex.out.size()) + " tensors, " +
         req.file_type;
}

}  // namespace qrun::gguf
