// nvfp4: NVFP4 weights after NVIDIA's recipe as llm-compressor applies it (fp8/fp4_quant.hpp for
// the definition, fp8/fp4_linear.hpp for the storage: compressed-tensors' nvfp4-pack-quantized
// names weight_packed, weight_scale (FP8 E4M3 bytes), weight_global_scale). A checkpoint without
// qrun metadata whose layer has those three (+ input_global_scale, bias) loads as this kind
// (weight_scale is safetensors F8_E4M3 there, read as its bytes; input_global_scale, the W4A4
// activation scale, is accepted but not applied: the forward is weight-only, NVFP4A16).
// Checkpoints written here carry compressed-tensors' nvfp4-pack-quantized quantization_config.
#include "../fp8/fp4_quant.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>

#include <set>

namespace {

namespace mf = qrun::minifloat;

struct Cfg { std::vector<std::string> include = {}, exclude = {"lm_head"}; };
const auto schema = qrun::schema<Cfg>(
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"));

bool recognizes(const std::vector<std::string>& suffixes) {
  const std::set<std::string> have(suffixes.begin(), suffixes.end());
  for (const char* need : {"weight_packed", "weight_scale", "weight_global_scale"})
    if (!have.count(need)) return false;
  for (const auto& s : have)
    if (s != "weight_packed" && s != "weight_scale" && s != "weight_global_scale" && s != "input_global_scale" &&
        s != "bias")
      return false;
  return true;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> load(const qrun::LinearState& st) {
  QRUN_ASSIGN_OR_RETURN(at::Tensor p, st.get("weight_packed"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor s, st.get("weight_scale"));
  QRUN_ASSIGN_OR_RETURN(at::Tensor g, st.get("weight_global_scale"));
  const auto shape = st.metadata.value("shape", std::vector<std::int64_t>{});
  const std::int64_t out = p.dim() == 2 ? p.size(0) : -1;
  const std::int64_t in = shape.size() == 2 ? shape[1] : (p.dim() == 2 ? p.size(1) * 2 : -1);
  const qrun::Error bad{st.name, "nvfp4 tensors disagree (weight_packed [out, in/2] uint8, weight_scale [out, in/16] "
                           "FP8 bytes, weight_global_scale [1])",
                  "load an nvfp4-pack-quantized checkpoint", qrun::ErrorCode::corrupt_input};
  if (p.scalar_type() != at::kByte || s.scalar_type() != at::kByte || g.numel() != 1 || out < 1 ||
      p.size(1) != (in + 15) / 16 * 8 || s.sizes() != at::IntArrayRef({out, (in + 15) / 16}))
    return bad;
  auto d = [&](const at::Tensor& t) { return t.defined() ? t.to(st.device) : t; };
  return std::shared_ptr<qrun::LinearImpl>(std::make_shared<mf::Fp4BlockLinear>(
      "nvfp4", d(p), d(s), d(g.to(at::kFloat).reshape({1})), d(st.find("bias")), mf::BlockScale::e4m3, 16, out, in,
      st.compute));
}

// compressed-tensors' QuantizationConfig of weight-only NVFP4 (the NVFP4A16 preset scheme,
// compressed_tensors/quantization/quant_scheme.py): 4-bit float weights, strategy tensor_group,
// group 16; the layers left dense under "ignore".
nlohmann::json compressed_tensors_config(const qrun::Model& model) {
  nlohmann::json ignore = nlohmann::json::array();
  for (const auto& n : model.linear_names())
    if (model.linear(n).kind() != "nvfp4") ignore.push_back(n);
  return {{"quant_method", "compressed-tensors"},
          {"format", "nvfp4-pack-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", {{"num_bits", 4}, {"type", "float"}, {"symmetric", true}, {"strategy", "tensor_group"},
                           {"group_size", 16}, {"dynamic", false}, {"observer", "minmax"}}},
              {"input_activations", nullptr},
              {"output_activations", nullptr}}}}},
          {"ignore", ignore},
          {"kv_cache_scheme", nullptr}};
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  qrun::quant::QuantizeRequest req{"nvfp4", c.include, c.exclude, "nvfp4", {{"block_size", 16}, {"scale", "e4m3"}}};
  auto rep = qrun::quant::quantize_model(
      model, req,
      [](const std::string&, const at::Tensor& w, const at::Tensor& b, c10::ScalarType ct)
          -> qrun::Result<std::shared_ptr<qrun::LinearImpl>> {
        const auto q = mf::quantize_nvfp4(w);
        return std::shared_ptr<qrun::LinearImpl>(std::make_shared<mf::Fp4BlockLinear>(
            "nvfp4", mf::pack_nibbles(q.codes), q.scales, q.global, b, mf::BlockScale::e4m3, 16, w.size(0), w.size(1), ct));
      },
      ctx);
  if (rep) rep->details["quantization_config"] = compressed_tensors_config(model);
  return rep;
}

}  // namespace

QRUN_PLUGIN("nvfp4", "0.1.0",
            qrun::transform("nvfp4", schema, qrun::Role::quantizer,
                            "NVFP4: E2M1 elements in blocks of 16 with FP8 E4M3 scales and a float32 global scale", apply),
            qrun::linear_kind("nvfp4", "packed E2M1 codes, E4M3 block scales, float32 global scale (compressed-tensors)",
                              load, recognizes));
