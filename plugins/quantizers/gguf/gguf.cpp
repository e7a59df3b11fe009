// gguf: quantizes a model as llama-quantize does, byte-exact to ggml (ggml_types.hpp), and registers
// the linear kind "gguf" (gguf_linear.hpp: ggml's blocks kept packed, dequantized for compute).
//   type       a ggml type name (q4_0 ... q6_K, iq4_nl, iq4_xs, mxfp4; any case): every selected
//              layer gets that type (llama-quantize --pure); or a llama-quantize file type that is
//              not a type name (Q2_K_S, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M): llama.cpp's per-tensor mix
//   mix        true: a name that is both (Q2_K, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q8_0, IQ4_NL, IQ4_XS)
//              means llama-quantize's file type (output q6_K, more bits where the mix says)
//   imatrix    an importance matrix file: llama-imatrix's GGUF or legacy .dat, or safetensors with
//              one float32 [in_features] vector per layer (imatrix.hpp), entries named as the layer,
//              the layer + ".weight", or llama.cpp's name ("blk.0.attn_v.weight"); a layer it lacks
//              is quantized without one, as llama-quantize does. "calibration": computed here, before
//              quantizing, as llama-imatrix does (imatrix_compute.hpp) from `calibration` (n_samples
//              chunks of seq_len tokens), its provenance in the report
//   embeddings quantize the token embedding too (its values replaced by their ggml dequantization,
//              as llama.cpp reads them; storage stays dense)
// As llama-quantize: weights are converted to float32 first; rows that are not whole blocks fall
// back (llama_types.hpp); every linear layer is selected by default, lm_head included.
#include "gguf_export.hpp"
#include "gguf_linear.hpp"
#include "imatrix_compute.hpp"
#include "llama_types.hpp"

#include <qrun/plugin.hpp>
#include <qrun/quant/quantize_model.hpp>
#include <qrun/safetensors.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>

namespace {

using qrun::gguf::GgmlType;
namespace gg = qrun::gguf;

struct Cfg {
  std::string type = "q4_K";
  bool mix = false;
  std::string imatrix;
  bool embeddings = true;
  std::vector<std::string> include = {}, exclude = {};
  std::string calibration = "datasets/calibration.json";
  std::int64_t n_samples = 0, seq_len = 512;
  std::string export_path;
};
const auto schema = qrun::schema<Cfg>(
    qrun::field("type", &Cfg::type)
        .doc("a ggml type (any case: q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs mxfp4) for every "
             "layer, or a llama-quantize mix (Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M)"),
    qrun::field("mix", &Cfg::mix)
        .doc("read a type that is also a llama-quantize file type (Q2_K Q4_0 Q4_1 Q5_0 Q5_1 Q6_K Q8_0 IQ4_NL IQ4_XS) "
             "as that file type's per-tensor mix"),
    qrun::field("imatrix", &Cfg::imatrix)
        .doc("importance matrix: llama-imatrix's .gguf or .dat, or safetensors with one float32 [in_features] tensor per "
             "layer (the layer's name, name + \".weight\", or llama.cpp's name); \"calibration\": computed from "
             "`calibration` as llama-imatrix does; empty: none"),
    qrun::field("embeddings", &Cfg::embeddings).doc("also quantize the token embedding, as llama-quantize does"),
    qrun::field("include", &Cfg::include).doc("layer-name patterns to quantize; empty: every linear layer"),
    qrun::field("exclude", &Cfg::exclude).doc("layer-name patterns left in full precision"),
    qrun::field("calibration", &Cfg::calibration).doc("with imatrix=calibration: the text it is computed from (text file, "
                                                      "JSON list of strings or qrun calibration JSON)"),
    qrun::field("n_samples", &Cfg::n_samples).min(0).doc("with imatrix=calibration: chunks (0: every whole chunk)"),
    qrun::field("seq_len", &Cfg::seq_len).min(16).unit("tokens").doc("with imatrix=calibration: tokens per chunk "
                                                                     "(llama-imatrix's n_ctx)"),
    qrun::field("export", &Cfg::export_path)
        .doc("also write the quantized model as a GGUF v3 file llama.cpp loads (gguf_export.hpp; qrun quantize "
             "--out X.gguf sets it); empty: none"));

// The type of every tensor: one ggml type, or a mix's choice per llama.cpp tensor name.
struct Plan {
  std::string name;                 // "q4_K" or "Q4_K_M"
  std::optional<gg::Mix> mix;
  GgmlType type = GgmlType::q4_K;   // without a mix
  std::map<std::string, std::optional<GgmlType>> mix_types;  // by llama.cpp name
  // The type for a tensor (HF name) with rows of ncols values; nullopt: llama.cpp has no fallback.
  std::optional<GgmlType> target(const std::string& name, std::int64_t ncols) const {
    if (!mix) return gg::fallback_type(type, ncols);
    auto it = mix_types.find(gg::llama_tensor_name(name));
    return it != mix_types.end() ? it->second : gg::fallback_type(gg::mix_default_type(*mix), ncols);
  }
};

std::string choices() {
  std::string s;
  for (GgmlType t : gg::quantized_types()) s += std::string(gg::type_name(t)) + " ";
  for (const auto& m : gg::mix_names()) s += m + " ";
  return s + "(a type that is also a file type with mix=true)";
}

// Layers of the model, for a tensor file without a config: one more than the largest layer index.
std::int64_t count_layers(const qrun::Model& model) {
  if (model.config().num_hidden_layers > 0) return model.config().num_hidden_layers;
  static const std::regex layer(R"((?:^|\.)(?:layers|blk)\.(\d+)\.)");
  std::int64_t n = 0;
  for (const auto& name : model.linear_names()) {
    std::smatch m;
    if (std::regex_search(name, m, layer)) n = std::max<std::int64_t>(n, std::stoll(m[1]) + 1);
  }
  return n;
}

qrun::Result<Plan> make_plan(const Cfg& c, qrun::Model& model, const at::Tensor& embedding) {
  Plan p;
  const auto type = gg::parse_type(c.type);
  const auto mix = gg::parse_mix(c.type);
  const auto quantized = gg::quantized_types();
  // f32, f16 and bf16 as plain types too (convert_hf_to_gguf.py --outtype): every layer stored in that type.
  const bool plain = type && (*type == GgmlType::f32 || *type == GgmlType::f16 || *type == GgmlType::bf16);
  const bool is_type = type && (plain || std::find(quantized.begin(), quantized.end(), *type) != quantized.end());
  if (mix && (!is_type || c.mix)) p.mix = mix;
  else if (is_type) p.type = *type;
  else return qrun::Error{"gguf.type", "\"" + c.type + "\" is not a ggml type or llama-quantize mix qrun implements",
                          "use one of: " + choices()};
  if (c.mix && !p.mix) return qrun::Error{"gguf.mix", "\"" + c.type + "\" is not a llama-quantize file type", "drop mix=true"};
  p.name = p.mix ? gg::mix_name(*p.mix) : gg::type_name(p.type);
  if (!p.mix) return p;
  if (gg::mix_requires_imatrix(*p.mix) && c.imatrix.empty())
    return qrun::Error{"gguf.imatrix", p.name + " needs an importance matrix (llama-quantize refuses it without one)",
                       "pass imatrix=FILE"};
  gg::MixModel mm;
  const qrun::ModelConfig& cfg = model.config();
  mm.n_layer = count_layers(model);
  mm.n_head = cfg.num_attention_heads;
  mm.n_head_kv = cfg.num_key_value_heads;
  mm.llama_70b = cfg.architecture == "LlamaForCausalLM" && mm.n_layer == 80 && mm.n_head != mm.n_head_kv;
  mm.has_imatrix = !c.imatrix.empty();
  std::vector<gg::MixTensor> tensors;  // every quantizable tensor, selected or not (they all count)
  for (const auto& name : model.linear_names()) tensors.push_back({gg::llama_tensor_name(name), model.linear(name).in_features()});
  if (embedding.defined()) tensors.push_back({"token_embd.weight", embedding.size(1)});
  p.mix_types = gg::mix_types(*p.mix, mm, tensors);
  return p;
}

// What one run did beyond quantize_model's report.
struct Notes {
  std::map<std::string, std::string> types;     // layer -> type
  std::map<std::string, std::string> fallbacks;  // layer -> type used instead of the plan's
  std::vector<std::string> imatrix_missing;      // layers the imatrix file has no entry for
  std::int64_t with_imatrix = 0;
  at::Tensor embedding_blocks;                   // the token embedding's ggml blocks (for export)
  std::optional<GgmlType> embedding_type;
};

// The layer's importance vector: float32 [in], or an undefined tensor when the imatrix has none.
qrun::Result<at::Tensor> imatrix_for(const gg::Imatrix& im, const std::string& where, const std::string& layer, std::int64_t in) {
  const gg::ImatrixEntry* e = gg::find_imatrix_entry(im, layer);
  if (!e) return at::Tensor();
  if (e->nmat != 1 || e->ncols != in)
    return qrun::Error{where + " entry for " + layer,
                       "has " + std::to_string(e->nmat) + " x " + std::to_string(e->ncols) + " values, not one vector of " +
                           std::to_string(in) + " (the layer's input columns)",
                       "compute the importance matrix for this model", qrun::ErrorCode::invalid_argument};
  at::Tensor v = at::tensor(e->mean(), at::TensorOptions().dtype(at::kFloat));
  if (!at::isfinite(v).all().item<bool>())
    return qrun::Error{where + " entry for " + layer, "holds NaN or infinite values", "recompute the importance matrix",
                       qrun::ErrorCode::corrupt_input};
  return v;
}

// The tensor as float32 on the CPU (as llama-quantize reads f16/bf16), refusing NaN and infinities.
qrun::Result<at::Tensor> float_rows(const std::string& name, const at::Tensor& w) {
  at::Tensor x = w.to(at::kCPU).to(at::kFloat).contiguous();
  if (!at::isfinite(x).all().item<bool>())
    return qrun::Error{name, "weight holds NaN or infinite values", "check the checkpoint", qrun::ErrorCode::corrupt_input};
  return x;
}

qrun::Result<GgmlType> type_for(const Plan& plan, const std::string& name, std::int64_t in, Notes& notes) {
  const auto type = plan.target(name, in);
  if (!type)
    return qrun::Error{name, "has rows of " + std::to_string(in) + " values, not whole 32-value blocks of " + plan.name +
                                 "'s type (llama.cpp has no fallback)", "choose another type or exclude the layer"};
  const GgmlType planned = plan.mix ? gg::mix_default_type(*plan.mix) : plan.type;
  if (*type == GgmlType::f16 || (!plan.mix && *type != planned)) notes.fallbacks[name] = gg::type_name(*type);
  notes.types[name] = gg::type_name(*type);
  return *type;
}

qrun::Result<std::shared_ptr<qrun::LinearImpl>> quantize_layer(const Plan& plan, const std::string& name, const at::Tensor& w,
                                                                const at::Tensor& b, c10::ScalarType compute,
                                                                const gg::Imatrix* imatrix, const std::string& imatrix_where,
                                                                Notes& notes) {
  const std::int64_t out = w.size(0), in = w.size(1);
  QRUN_ASSIGN_OR_RETURN(const GgmlType type, type_for(plan, name, in, notes));
  at::Tensor im;
  if (imatrix) {
    QRUN_ASSIGN_OR_RETURN(im, imatrix_for(*imatrix, imatrix_where, name, in));
    if (im.defined()) ++notes.with_imatrix;
    else notes.imatrix_missing.push_back(name);
  }
  QRUN_ASSIGN_OR_RETURN(const at::Tensor x, float_rows(name, w));
  return gg::make_gguf_linear(type, gg::quantize_matrix(type, x, im), out, in, b, im.defined(), w.device(), compute);
}

// llama-quantize quantizes token_embd too (llama-imatrix records no importance for it); qrun keeps
// the embedding dense and writes ggml's dequantized values into it.
qrun::Result<std::string> quantize_embedding(const Plan& plan, at::Tensor& embedding, Notes& notes) {
  const std::string name = "model.embed_tokens";
  QRUN_ASSIGN_OR_RETURN(const GgmlType type, type_for(plan, name, embedding.size(1), notes));
  QRUN_ASSIGN_OR_RETURN(const at::Tensor x, float_rows(name, embedding));
  notes.embedding_blocks = gg::quantize_matrix(type, x, at::Tensor());
  notes.embedding_type = type;
  const at::Tensor deq = gg::dequantize_blocks(type, notes.embedding_blocks, x.size(0), x.size(1));
  embedding.copy_(deq.to(embedding.device()).to(embedding.scalar_type()));
  return std::string(gg::type_name(type));
}

at::Tensor find_embedding(qrun::Model& model) {
  for (auto& [name, t] : model.other_tensors())
    if (name.size() >= 19 && name.compare(name.size() - 19, 19, "embed_tokens.weight") == 0 && t.dim() == 2) return t;
  return {};
}

// The importance matrix: computed from the calibration text (imatrix=calibration) or read from a
// file in any of llama.cpp's or qrun's formats; `source` records where it came from.
qrun::Result<gg::Imatrix> load_imatrix(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx, nlohmann::json& source) {
  if (c.imatrix == "calibration") {
    gg::ImatrixSpec spec;
    spec.calibration = c.calibration, spec.n_chunks = c.n_samples, spec.chunk_size = c.seq_len;
    QRUN_ASSIGN_OR_RETURN(gg::ImatrixResult r, gg::compute_imatrix(model, spec, ctx));
    source = {{"computed", true}, {"calibration", r.record}, {"entries", r.imatrix.entries.size()}};
    return std::move(r.imatrix);
  }
  QRUN_ASSIGN_OR_RETURN(const gg::ImatrixFormat format, gg::sniff_imatrix_format(c.imatrix));
  QRUN_ASSIGN_OR_RETURN(gg::Imatrix im, gg::read_imatrix(c.imatrix));
  QRUN_ASSIGN_OR_RETURN(const std::string sha, qrun::sha256_file(c.imatrix));
  source = {{"computed", false}, {"path", c.imatrix}, {"format", gg::imatrix_format_name(format)}, {"sha256", sha},
            {"entries", im.entries.size()}, {"datasets", im.datasets}, {"chunk_count", im.chunk_count},
            {"chunk_size", im.chunk_size}};
  return im;
}

qrun::Result<qrun::TransformReport> apply(const Cfg& c, qrun::Model& model, qrun::RunContext& ctx) {
  at::Tensor embedding = c.embeddings ? find_embedding(model) : at::Tensor();
  QRUN_ASSIGN_OR_RETURN(const Plan plan, make_plan(c, model, embedding));
  std::optional<gg::Imatrix> imatrix;
  nlohmann::json imatrix_source;
  if (!c.imatrix.empty()) {
    auto loaded = load_imatrix(c, model, ctx, imatrix_source);
    if (!loaded) return loaded.error().within("gguf.imatrix");
    imatrix = std::move(*loaded);
  }
  Notes notes;
  const gg::Imatrix* im = imatrix ? &*imatrix : nullptr;
  qrun::quant::QuantizeRequest req{plan.name, c.include, c.exclude, "gguf",
                                   {{"type", plan.name}, {"imatrix", c.imatrix}, {"embeddings", c.embeddings}}};
  auto r = qrun::quant::quantize_model(
      model, req,
      [&](const std::string& n, const at::Tensor& w, const at::Tensor& b, c10::ScalarType ct) {
        return quantize_layer(plan, n, w, b, ct, im, c.imatrix, notes);
      },
      ctx);
  if (!r) return r.error();
  if (im && notes.with_imatrix == 0 && !notes.imatrix_missing.empty())
    return qrun::Error{"gguf.imatrix", c.imatrix + " has no entry for any quantized layer (e.g. \"" +
                                           notes.imatrix_missing.front() + "\" or \"" +
                                           gg::llama_tensor_name(notes.imatrix_missing.front()) + "\")",
                       "compute the importance matrix for this model, with its layer names"};
  if (embedding.defined()) {
    QRUN_ASSIGN_OR_RETURN(const std::string t, quantize_embedding(plan, embedding, notes));
    r->details["embedding_type"] = t;
  }
  r->details["ggml_commit"] = gg::kGgmlCommit;
  r->details["types"] = notes.types;
  r->details["fallbacks"] = notes.fallbacks;
  r->details["imatrix_layers"] = notes.with_imatrix;
  r->details["imatrix_missing"] = notes.imatrix_missing;
  if (im) r->details["imatrix_source"] = imatrix_source;
  if (!notes.fallbacks.empty()) ctx.info("gguf: " + std::to_string(notes.fallbacks.size()) + " tensors fell back to another type");
  if (!c.export_path.empty()) {
    QRUN_ASSIGN_OR_RETURN(const std::string wrote,
                          gg::export_gguf(model, {c.export_path, plan.name, notes.embedding_blocks, notes.embedding_type}, ctx));
    r->details["export"] = c.export_path;
    r->summary += "; " + wrote;
  }
  return r;
}

}  // namespace

QRUN_PLUGIN("gguf", "0.2.0",
            qrun::transform("gguf", schema, qrun::Role::quantizer,
                            "llama.cpp's ggml types and mixes (q4_0 ... q6_K, iq4_nl, iq4_xs, mxfp4; Q4_K_M ...), "
                            "byte-exact, optional imatrix",
                            apply),
            qrun::linear_kind("gguf", "ggml blocks (llama.cpp types) kept packed, dequantized for compute",
                              qrun::gguf::load_gguf_linear));
