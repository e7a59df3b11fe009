// weight_noise: Gaussian noise on the selected linear weights before quantization, the defense of
// Egashira et al., "Exploiting LLM Quantization" (NeurIPS 2024, sec. 5). The numerics are in
// qrun/defense/weight_noise.hpp; layer selection is the quantizers' (qrun/quant/layer_select.hpp).
#include <qrun/defense/weight_noise.hpp>
#include <qrun/plugin.hpp>
#include <qrun/quant/layer_select.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <sstream>

namespace {

struct NoiseParams {
  double std = 1e-3;
  std::string mode = "absolute";
  std::int64_t seed = 0;
  std::vector<std::string> include = {};
  std::vector<std::string> exclude = {"lm_head"};
};

qrun::Schema<NoiseParams> make_schema() {
  return qrun::schema<NoiseParams>(
      qrun::field("std", &NoiseParams::std)
          .min(0.0)
          .unit("absolute, ×row std or ×row absmax (mode)")
          .doc("standard deviation of the Gaussian noise added to each weight"),
      qrun::field("mode", &NoiseParams::mode)
          .choices({"absolute", "row_std", "row_absmax"})
          .doc("std as an absolute value, or relative to each row's std or absmax"),
      qrun::field("seed", &NoiseParams::seed)
          .min(0)
          .doc("noise seed (a CPU generator: same seed, same weights on every device)"),
      qrun::field("include", &NoiseParams::include)
          .doc("layer-name patterns to perturb ('*' wildcard, substring match); empty: every linear layer"),
      qrun::field("exclude", &NoiseParams::exclude).doc("layer-name patterns left untouched"));
}

qrun::Result<qrun::TransformReport> apply(const NoiseParams& p, qrun::Model& model, qrun::RunContext& ctx) {
  c10::InferenceMode guard;
  QRUN_TRY(qrun::defense::check_noise_std(p.std, "weight_noise.std"));
  const auto mode = qrun::defense::parse_noise_mode(p.mode);
  if (!mode)
    return qrun::Error{"weight_noise.mode", "'" + p.mode + "' is not a noise mode", "use absolute, row_std or row_absmax"};
  auto selected = qrun::quant::select_layers(model.linear_names(), p.include, p.exclude, "weight_noise.include");
  if (!selected) return selected.error();
  const c10::ScalarType storage = qrun::to_scalar_type(model.storage_dtype());
  const c10::ScalarType compute = qrun::to_scalar_type(model.compute_dtype());
  at::Generator gen = ctx.generator(static_cast<std::uint64_t>(p.seed));
  nlohmann::json layers = nlohmann::json::array();
  qrun::defense::NoiseSums all, all_relative;
  std::int64_t unchanged = 0;
  auto progress = ctx.progress("weight_noise", static_cast<std::int64_t>(selected->size()));
  for (const std::string& name : *selected) {
    const qrun::LinearImpl& layer = model.linear(name);
    if (layer.kind() != "dense")
      return qrun::Error{name, "is already quantized (" + layer.kind() + ")",
                         "list weight_noise before the quantizer (defenses run first)"};
    // The weight as stored (the dense layer's cast to the compute dtype is exact).
    const at::Tensor w = layer.weight(storage);
    auto noised = qrun::defense::add_weight_noise(w, *mode, p.std, gen, name);
    if (!noised) return noised.error();
    at::Tensor b = layer.bias();
    if (b.defined()) b = b.to(storage);
    QRUN_TRY(model.set_linear(name, qrun::make_dense_linear(noised->weight, b, compute)));
    const std::int64_t n = w.numel();
    all.add(noised->delta);
    all_relative.add(noised->relative);
    unchanged += noised->unchanged;
    layers.push_back({{"name", name},
                      {"numel", n},
                      {"realised_std", noised->delta.std()},
                      {"realised_mean", noised->delta.mean()},
                      {"realised_rel_std", noised->relative.std()},
                      {"unchanged", noised->unchanged}});
    progress->advance();
  }
  progress->finish();
  const double realised = all.std(), realised_rel = all_relative.std();
  qrun::TransformReport r;
  std::ostringstream s;
  s << "perturbed " << selected->size() << " of " << model.linear_names().size() << " linear layers, std "
    << p.std << " (" << p.mode << "), realised " << realised_rel << " in " << qrun::to_string(model.storage_dtype());
  r.summary = s.str();
  r.details = {{"params",
                {{"std", p.std}, {"mode", p.mode}, {"seed", p.seed}, {"include", p.include}, {"exclude", p.exclude}}},
               {"storage_dtype", std::string(qrun::to_string(model.storage_dtype()))},
               {"layers_touched", selected->size()},
               {"realised_std", realised},
               {"realised_mean", all.mean()},
               {"realised_rel_std", realised_rel},
               {"unchanged_weights", unchanged},
               {"layers", layers}};
  ctx.info(r.summary);
  return r;
}

}  // namespace

QRUN_PLUGIN("weight_noise", "0.1.0",
            qrun::transform("weight_noise", make_schema(), qrun::Role::defense,
                            "Gaussian noise on linear weights (absolute or per-row relative), before quantization",
                            apply));
