// GGUF tensors -> the tensors of a transformers checkpoint (the inverse of gguf_export.cpp):
//   linear weights ("*_proj.weight", "output.weight")  ggml blocks as stored, U8, under the HF name,
//        with the "gguf" linear kind recorded as qrun's checkpoints record it (qrun/linear_kind.hpp),
//        Llama's q/k rows un-permuted (rows are whole blocks)
//   everything else                                     to_float (float32) in HF's shape; Llama q/k
//        biases un-permuted; Gemma norms stored as 1 + w get w back
#include "gguf_model.hpp"

#include "ggml_types.hpp"
#include "gguf_linear.hpp"

#include <qrun/linear_kind.hpp>

#include <ATen/ATen.h>

namespace qrun::gguf_backend {
namespace {

using gguf::GgmlType;

bool is_linear_weight(const std::string& hf) {
  return hf == "lm_head.weight" || (hf.ends_with("_proj.weight") && hf.rfind("model.layers.", 0) == 0);
}

std::int64_t heads_for(gguf::Arch arch, const std::string& hf, std::int64_t n_head, std::int64_t n_head_kv) {
  if (!gguf::permutes_qk(arch)) return 0;
  if (hf.find("self_attn.q_proj.") != std::string::npos) return n_head;
  if (hf.find("self_attn.k_proj.") != std::string::npos) return n_head_kv;
  return 0;
}

// ggml's to_float of rows x cols values: float32 [rows, cols].
at::Tensor to_float(GgmlType type, const at::Tensor& bytes, std::int64_t rows, std::int64_t cols) {
  at::Tensor w = at::empty({rows, cols}, at::kFloat);
  gguf::dequantize_values(type, bytes.data_ptr<std::uint8_t>(), w.data_ptr<float>(), rows * cols);
  return w;
}

at::Tensor unpermute(const at::Tensor& bytes, std::int64_t rows, std::int64_t heads) {
  if (heads <= 0) return bytes;
  at::Tensor out = at::empty_like(bytes);
  gguf::permute_qk_rows(bytes.data_ptr<std::uint8_t>(), out.data_ptr<std::uint8_t>(), rows,
                        static_cast<std::size_t>(bytes.numel() / rows), heads, true);
  return out;
}

}  // namespace

Result<Tensors> tensors_from_gguf(const gguf::GgufFile& f, gguf::Arch arch, std::int64_t n_head, std::int64_t n_head_kv) {
  Tensors out;
  const std::string file = f.path().string();
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name == "rope_freqs.weight") continue;  // read into the RoPE configuration (gguf_config.cpp)
    const std::string where = file + " tensor '" + t.name + "'";
    const auto hf = gguf::hf_tensor_name(arch, t.name);
    if (!hf)
      return Error::of(ErrorCode::unsupported, where, std::string("is not part of a ") + gguf::arch_name(arch) + " model qrun reads",
                       "use a file of a dense llama, qwen2, qwen3, gemma2, gemma3 or phi3 model");
    const gguf::TypeTraits& tr = gguf::traits(t.type);
    if (!tr.implemented)
      return Error::of(ErrorCode::unsupported, where, std::string("has ggml type ") + tr.name + ", which qrun cannot dequantize",
                       "use a file quantized to f32, f16, bf16, q4_0 ... q8_0, q2_K ... q6_K, iq4_nl, iq4_xs or mxfp4");
    if (t.ne.empty() || t.ne.size() > 2)
      return Error::of(ErrorCode::unsupported, where, std::to_string(t.ne.size()) + " dimensions; the model's tensors have 1 or 2",
                       "use a file of a dense decoder model");
    const auto data = f.data(t);
    at::Tensor bytes = at::empty({static_cast<std::int64_t>(data.size())}, at::kByte);
    std::memcpy(bytes.data_ptr(), data.data(), data.size());
    const std::int64_t cols = t.ne[0], rows = t.ne.size() == 2 ? t.ne[1] : 1;
    const std::int64_t heads = heads_for(arch, *hf, n_head, n_head_kv);
    if (heads > 0 && rows * cols > 0 && (rows > 1 ? rows : cols) % (2 * heads) != 0)
      return Error::of(ErrorCode::corrupt_input, where, "has " + std::to_string(rows > 1 ? rows : cols) +
                                                        " rows, not whole rotary pairs of " + std::to_string(heads) + " heads",
                       "use the file's own metadata (attention.head_count / head_count_kv)");
    if (t.ne.size() == 2 && is_linear_weight(*hf)) {
      const std::string layer = hf->substr(0, hf->size() - 7);
      out.tensors[*hf] = unpermute(bytes, rows, heads);
      const nlohmann::json meta = {{"kind", "gguf"},
                                   {"metadata", {{"type", tr.name}, {"shape", {rows, cols}}, {"imatrix", false},
                                                 {"ggml_commit", gguf::kGgmlCommit}}}};
      out.metadata[linear_metadata_key(layer)] = meta.dump();
      continue;
    }
    at::Tensor values = to_float(t.type, bytes, rows, cols);  // float32 [rows, cols]
    if (t.ne.size() == 1) {
      values = values.reshape({cols});
      if (heads > 0) values = unpermute(values.view(at::kByte), cols, heads).view(at::kFloat);
      if (gguf::norm_plus_one(arch) && gguf::is_norm_weight(*hf)) values = values - 1.0;  // stored as 1 + w
    }
    out.tensors[*hf] = values;
  }
  return out;
}

}  // namespace qrun::gguf_backend
