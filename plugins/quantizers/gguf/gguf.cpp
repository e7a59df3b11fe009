// gguf: quantizes linear layers to llama.cpp's ggml types, byte-exact to ggml (ggml_types.hpp), and
// registers the linear kind "gguf" whose layers keep ggml's blocks packed (their storage is the true
// bytes) and compute with the dequantized weight (ggml's to_float, then the model's compute dtype).
//   transform gguf: type = a ggml type name (q4_0 ... q6_K, iq4_nl, iq4_xs, mxfp4; any case),
//                   imatrix = an importance matrix file (safetensors: one float32 [in_features]
//                   tensor per layer, named as the layer or the layer + ".weight"), include, exclude.
// As llama-quantize: the weight is converted to float32 first; rows that are not whole blocks of
// the type fall back (llama_types.hpp); a layer the imatrix does not cover is quantized without one.
// Checkpoint state: "weight" = the layer's ggml blocks, U8 [rows * row_size] (ggml's exact layout,
// rows consecutive), "bias" as stored; metadata {"type", "shape", "imatrix", "ggml_commit"}.
#include "ggml_types.hpp"
#include "llama_types.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <map>
#include <optional>

namespace {

using qrun::gguf::GgmlType;

constexpr const char* kGgmlCommit = "d99724f2";  // the ggml commit the numerics reproduce

struct Cfg {
  std::string type = "q4_K";
  std::string imatrix;
  std::vector<std::string> include = {}, exclude = {"lm_head"};
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("type", &Cfg::type)
        .doc("ggml type as ggml_type_name prints it, any case: q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K "
             "iq4_nl iq4_xs mxfp4"),
    qrun::field("imatrix", &Cfg::imatrix)
        .doc("importance matrix: safetensors with one float32 [in_features] tensor per layer (the layer's name, "
             "or name + \".weight\"); empty: none"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

// Bits of one weight code, scales excluded.
int code_bits(GgmlType t) {
  switch (t) {
    case GgmlType::q2_K: return 2;
    case GgmlType::q3_K: return 3;
    case GgmlType::q5_0: case GgmlType::q5_1: case GgmlType::q5_K: return 5;
    case GgmlType::q6_K: return 6;
    case GgmlType::q8_0: return 8;
    case GgmlType::f16: case GgmlType::bf16: return 16;
    case GgmlType::f32: return 32;
    default: return 4;
  }
}

// ggml's to_float of a layer's blocks: float32 [out, in] on the CPU.
at::Tensor dequantize_blocks(GgmlType type, const at::Tensor& blocks, std::int64_t out, std::int64_t in) {
  at::Tensor w = at::empty({out, in}, at::kFloat);
  const std::size_t rs = qrun::gguf::row_size(type, in);
  const auto* src = blocks.data_ptr<std::uint8_t>();
  float* dst = w.data_ptr<float>();
  at::parallel_for(0, out, 16, [&](std::int64_t r0, std::int64_t r1) {
    qrun::gguf::dequantize_values(type, src + r0 * static_cast<std::int64_t>(rs), dst + r0 * in, (r1 - r0) * in);
  });
  return w;
}

class GgufLinear final : public qrun::LinearImpl {
 public:
  // blocks: U8 [out * row_size] on the CPU; w: the dequantized weight in the compute dtype on the layer's device.
  GgufLinear(GgmlType type, at::Tensor blocks, at::Tensor w, at::Tensor bias, bool imatrix, c10::ScalarType compute)
      : type_(type), blocks_(std::move(blocks)), w_(std::move(w)), b_(std::move(bias)), imatrix_(imatrix), compute_(compute) {}
  std::string kind() const override { return "gguf"; }
  std::int64_t in_features() const override { return w_.size(1); }
  std::int64_t out_features() const override { return w_.size(0); }
  at::Tensor weight(c10::ScalarType dt) const override { return w_.to(dt); }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, w_.to(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  qrun::StorageInfo storage() const override {
    std::int64_t bytes = blocks_.numel();
    if (b_.defined()) bytes += b_.numel() * static_cast<std::int64_t>(b_.element_size());
    return {bytes, bytes, code_bits(type_), qrun::gguf::type_name(type_)};
  }
  qrun::NamedTensors state() const override {
    qrun::NamedTensors t{{"weight", blocks_}};
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  nlohmann::json metadata() const override {
    return {{"type", qrun::gguf::type_name(type_)}, {"shape", {out_features(), in_features()}},
            {"imatrix", imatrix_}, {"ggml_commit", kGgmlCommit}};
  }
  std::shared_ptr<qrun::LinearImpl> clone_to(c10::Device d) const override {
    return std::make_shared<GgufLinear>(type_, blocks_.clone(), w_.to(d, false, true),
                                        b_.defined() ? b_.to(d, false, true) : b_, imatrix_, compute_);
  }

 private:
  GgmlType type_;
  at::Tensor blocks_, w_, b_;
  bool imatrix_;
  c10::ScalarType compute_;
};

// What one run did beyond quantize_model's report.
struct Notes {
  std::map<std::string, std::string> fallbacks;  // layer -> type used instead
  std::vector<std::string> imatrix_missing;      // layers the imatrix file has no entry for
  std::int64_t with_imatrix = 0;
};

// The layer's importance vector from the imatrix file: float32 [in], or nullopt when it has none.
qrun::Result<std::optional<at::Tensor>> imatrix_for(const qrun::SafetensorsFile& f, const std::string& layer, std::int64_t in) {
  const qrun::TensorEntry* e = f.find(layer);
  if (!e) e = f.find(layer + ".weight");
  if (!e) return std::optional<at::Tensor>();
  auto t = f.load(e->name);
  if (!t) return t.error();
  if (t->dim() != 1 || t->size(0) != in || !t->is_floating_point())
    return qrun::Error{f.path().string() + " tensor " + e->name,
                       "must be a float vector of " + std::to_string(in) + " values (the layer's input columns)",
                       "compute the importance matrix for this model", qrun::ErrorCode::invalid_argument};
  at::Tensor v = t->to(at::kFloat).contiguous();
  if (!at::isfinite(v).all().item<bool>())
    return qrun::Error{f.path().string() + " tensor " + e->name, "holds NaN or infinite values", "recompute the importance matrix",
                       qrun::ErrorCode::corrupt_input};
  return std::optional<at::Tensor>(v);
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize_layer(GgmlType target, const std::string& name, const at::Tensor& w,
                                                                const at::Tensor& b, c10::ScalarType compute,
                                                                const qrun::SafetensorsFile* imatrix_file, Notes& notes) {
  const std::int64_t out = w.size(0), in = w.size(1);
  const auto type = qrun::gguf::fallback_type(target, in);
  if (!type)
    return qrun::Error{name, "has rows of " + std::to_string(in) + " values, not whole " + qrun::gguf::type_name(target) +
                                 " blocks of " + std::to_string(qrun::gguf::traits(target).block_size) + " (llama.cpp has no fallback)",
                       "choose another type or exclude the layer"};
  if (*type != target) notes.fallbacks[name] = qrun::gguf::type_name(*type);
  std::optional<at::Tensor> im;
  if (imatrix_file) {
    auto r = imatrix_for(*imatrix_file, name, in);
    if (!r) return r.error();
    im = *r;
    if (im) ++notes.with_imatrix;
    else notes.imatrix_missing.push_back(name);
  }
  const at::Tensor x = w.to(at::kCPU).to(at::kFloat).contiguous();  // as llama-quantize reads an f16/bf16 tensor
  if (!at::isfinite(x).all().item<bool>())
    return qrun::Error{name, "weight holds NaN or infinite values", "check the checkpoint", qrun::ErrorCode::corrupt_input};
  const std::size_t rs = qrun::gguf::row_size(*type, in);
  at::Tensor blocks = at::empty({out * static_cast<std::int64_t>(rs)}, at::kByte);
  const float* src = x.data_ptr<float>();
  const float* imp = im ? im->data_ptr<float>() : nullptr;
  std::uint8_t* dst = blocks.data_ptr<std::uint8_t>();
  // Rows are independent in every ggml type, so chunks of rows give the bytes of one whole call.
  at::parallel_for(0, out, 8, [&](std::int64_t r0, std::int64_t r1) {
    (void)qrun::gguf::quantize_rows(*type, src + r0 * in, dst + r0 * static_cast<std::int64_t>(rs), r1 - r0, in, imp);
  });
  at::Tensor deq = dequantize_blocks(*type, blocks, out, in).to(w.device()).to(compute);
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<GgufLinear>(*type, blocks, deq, b, im.has_value(), compute));
}

// The quantized ggml types qrun implements, for messages.
std::string implemented_types() {
  std::string s;
  for (GgmlType t : qrun::gguf::quantized_types()) s += (s.empty() ? "" : " ") + std::string(qrun::gguf::type_name(t));
  return s;
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  const auto type = qrun::gguf::parse_type(c.type);
  const auto quantized = qrun::gguf::quantized_types();
  if (!type || std::find(quantized.begin(), quantized.end(), *type) == quantized.end())
    return qrun::Error{"gguf.type", "\"" + c.type + "\" is not a ggml quantization type qrun implements",
                       "use one of: " + implemented_types()};
  std::optional<qrun::SafetensorsFile> imatrix;
  if (!c.imatrix.empty()) {
    auto f = qrun::SafetensorsFile::open(c.imatrix);
    if (!f) return f.error().within("gguf.imatrix");
    imatrix = std::move(*f);
  }
  auto notes = std::make_shared<Notes>();
  const qrun::SafetensorsFile* im = imatrix ? &*imatrix : nullptr;
  qrun::quant::QuantizeRequest req{qrun::gguf::type_name(*type), c.include, c.exclude, "gguf",
                                   {{"type", qrun::gguf::type_name(*type)}, {"imatrix", c.imatrix}}};
  auto r = qrun::quant::quantize_model(
      model, req,
      [&, t = *type](const std::string& n, const at::Tensor& w, const at::Tensor& b, c10::ScalarType ct) {
        return quantize_layer(t, n, w, b, ct, im, *notes);
      },
      ctx);
  if (!r) return r.error();
  if (im && notes->with_imatrix == 0)
    return qrun::Error{"gguf.imatrix", c.imatrix + " has no entry for any quantized layer (e.g. \"" +
                                           notes->imatrix_missing.front() + "\" or \"" + notes->imatrix_missing.front() + ".weight\")",
                       "compute the importance matrix for this model, with its layer names"};
  r->details["ggml_commit"] = kGgmlCommit;
  r->details["fallbacks"] = notes->fallbacks;
  r->details["imatrix_layers"] = notes->with_imatrix;
  r->details["imatrix_missing"] = notes->imatrix_missing;
  if (!notes->fallbacks.empty()) ctx.info("gguf: " + std::to_string(notes->fallbacks.size()) + " layers fell back to another type");
  return r;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  auto bad = [&](const std::string& why) {
    return qrun::Error{st.name, "gguf layer: " + why, "rewrite the checkpoint with qrun quantize", qrun::ErrorCode::corrupt_input};
  };
  const auto type = qrun::gguf::parse_type(st.metadata.value("type", std::string()));
  if (!type || !qrun::gguf::traits(*type).implemented) return bad("unknown or unsupported ggml type in the metadata");
  const auto shape = st.metadata.value("shape", std::vector<std::int64_t>{});
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0 || shape[1] % qrun::gguf::traits(*type).block_size != 0)
    return bad("shape missing or not whole blocks");
  auto blocks = st.get("weight");
  if (!blocks) return blocks.error();
  const auto expected = static_cast<std::int64_t>(qrun::gguf::row_size(*type, shape[1])) * shape[0];
  if (blocks->scalar_type() != at::kByte || blocks->dim() != 1 || blocks->numel() != expected)
    return bad("\"weight\" must be U8 [" + std::to_string(expected) + "] for " + qrun::gguf::type_name(*type) + " " +
               std::to_string(shape[0]) + "x" + std::to_string(shape[1]));
  at::Tensor packed = blocks->to(at::kCPU).contiguous();
  at::Tensor w = dequantize_blocks(*type, packed, shape[0], shape[1]).to(st.device).to(st.compute);
  const at::Tensor bias = st.find("bias");
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<GgufLinear>(
      *type, packed, w, bias.defined() ? bias.to(st.device) : bias, st.metadata.value("imatrix", false), st.compute));
}

}  // namespace

QRUN_PLUGIN("gguf", "0.1.0",
            qrun::transform("gguf", schema, qrun::Role::quantizer,
                            "llama.cpp's ggml types (q4_0 ... q6_K, iq4_nl, iq4_xs, mxfp4), byte-exact, optional imatrix",
                            apply),
            qrun::linear_kind("gguf", "ggml blocks (llama.cpp types) kept packed, dequantized for compute", load));
