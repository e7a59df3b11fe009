// Evaluation of the attack's models through qrun's own plugins: the behaviour rate with the
// content_injection metric (patterns of the objective), perplexity and KL (kl_divergence against
// the repaired full-precision model), for every full-precision, quantized and noise-defended
// variant. Internal to the CLI.
#pragma once

#include "cli/attack_config.hpp"

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <vector>

namespace qrun {
class Registry;
class RunContext;
}  // namespace qrun

namespace qrun::cli {

struct Transformed {
  std::unique_ptr<Model> model;
  nlohmann::json log = nlohmann::json::array();  // [{use, params, summary}]
};
// A clone of `model` with `steps` applied in order.
Result<Transformed> transformed_clone(const Registry& registry, Model& model, const std::vector<const TransformUse*>& steps,
                                      RunContext& ctx);

// One record per variant: original / injected / repaired in full precision, each under every
// quantizer, and the repaired model with weight_noise at every std before every quantizer.
Result<nlohmann::json> evaluate_variants(const AttackConfig& c, const Registry& registry, RunContext& ctx, Model& original,
                                         Model& injected, Model& repaired);

// The acceptance per target from the variants and the code comparison.
nlohmann::json acceptance_json(const AttackConfig& c, const nlohmann::json& variants, const nlohmann::json& codes);

}  // namespace qrun::cli
