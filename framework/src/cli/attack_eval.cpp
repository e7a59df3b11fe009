// Evaluation of the attack's variants (attack_eval.hpp) and report.md (attack_pipeline.hpp).
#include "cli/attack_eval.hpp"

#include "cli/attack_pipeline.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/metric.hpp>
#include <qrun/sha256.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace qrun::cli {
namespace {

nlohmann::json params_json(const ParamMap& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params) std::visit([&, key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

std::optional<MetricValue> overall(const MetricResult& r, const std::string& name) {
  for (const MetricValue& v : r.values)
    if (v.name == name && v.group.empty()) return v;
  return std::nullopt;
}

// One metric on one variant (baseline `base`); the single result.
Result<MetricResult> run_metric(const Registry& registry, const std::string& metric, const ParamMap& params,
                                const Dataset& data, Model& base, Model& variant, RunContext& ctx) {
  auto m = registry.make_metric(metric, params);
  if (!m) return m.error();
  MetricInputs in;
  in.baseline = &base;
  in.variants.push_back(VariantModel{"variant", &variant, &variant == &base});
  in.dataset = &data;
  auto r = (*m)->evaluate(in, ctx);
  if (!r) return r.error().within("metric " + metric + ":");
  if (r->size() != 1) return Error{"metric " + metric, "returned no single result", "fix the metric plugin", ErrorCode::internal};
  return r->front();
}

// A variant waiting for evaluation: its model (owned when it is a transformed clone).
struct Pending {
  nlohmann::json record;
  Model* model = nullptr;
  std::unique_ptr<Model> owned;
};

struct Evaluator {
  const AttackConfig& c;
  const Registry& registry;
  RunContext& ctx;
  Model& original;
  Model& repaired;
  Dataset prompts;
  std::optional<Dataset> text;
  ParamMap behaviour, kl;

  // The behaviour of a group of variants in one content_injection call (the original model's
  // answers, its baseline, are generated once per group), then perplexity and KL of each.
  Result<void> run_group(std::vector<Pending>& group, nlohmann::json& out) {
    auto m = registry.make_metric("content_injection", behaviour);
    if (!m) return m.error();
    MetricInputs in;
    in.baseline = &original;
    for (const Pending& p : group) in.variants.push_back(VariantModel{p.record["name"].get<std::string>(), p.model, p.model == &original});
    in.dataset = &prompts;
    auto results = (*m)->evaluate(in, ctx);
    if (!results) return results.error().within("metric content_injection:");
    if (results->size() != group.size())
      return Error{"content_injection", "returned a result count unlike the variants'", "fix the metric plugin", ErrorCode::internal};
    for (std::size_t i = 0; i < group.size(); ++i) {
      nlohmann::json v = group[i].record;
      const MetricResult& r = (*results)[i];
      const auto rate = overall(r, "injection_rate");
      if (!rate) return Error{"content_injection", "gave no injection_rate", "fix the metric plugin", ErrorCode::internal};
      v["rate_pct"] = rate->value;
      v["n"] = rate->n;
      v["hits"] = std::llround(rate->value * static_cast<double>(rate->n) / 100.0);
      if (auto lo = overall(r, "injection_rate_ci_low")) v["rate_ci_low_pct"] = lo->value;
      if (auto hi = overall(r, "injection_rate_ci_high")) v["rate_ci_high_pct"] = hi->value;
      if (r.details.contains("generations") && !r.details["generations"].empty())
        v["example_output"] = r.details["generations"][0]["model_output"];
      QRUN_TRY(add_text_metrics(v, *group[i].model));
      ctx.info("attack eval: " + v["name"].get<std::string>() + ": rate " + std::to_string(rate->value) + " %");
      out.push_back(v);
    }
    group.clear();
    return {};
  }

  Result<void> add_text_metrics(nlohmann::json& v, Model& model) {
    if (!text) return {};
    const std::string name = v["name"];
    auto p = run_metric(registry, "perplexity", c.perplexity, *text, original, model, ctx);
    if (!p) return p.error().within("variant " + name + ":");
    if (auto ppl = overall(*p, "ppl")) v["ppl"] = ppl->value;
    if (c.kl && !v["quantizer"].get<std::string>().empty()) {
      auto k = run_metric(registry, "kl_divergence", kl, *text, repaired, model, ctx);
      if (!k) return k.error().within("variant " + name + ":");
      if (auto km = overall(*k, "kl_mean")) v["kl_mean_vs_repaired"] = km->value;
    }
    return {};
  }
};

nlohmann::json variant_record(const std::string& name, const std::string& stage, const std::string& quantizer,
                              std::optional<double> noise, const nlohmann::json& log) {
  nlohmann::json v = {{"name", name}, {"stage", stage}, {"quantizer", quantizer}, {"transforms", log}};
  v["noise_std"] = noise ? nlohmann::json(*noise) : nlohmann::json();
  return v;
}

Result<ParamMap> validated(const Registry& registry, const std::string& id, Kind kind, const ParamMap& given) {
  auto info = registry.find(id, kind);
  if (!info) return info.error();
  auto v = validate_params((*info)->schema, given);
  if (!v) return v.error().within(id + ":");
  return *v;
}

std::string std_label(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

Result<Transformed> transformed_clone(const Registry& registry, Model& model, const std::vector<const TransformUse*>& steps,
                                      RunContext& ctx) {
  auto clone = model.clone();
  if (!clone) return clone.error();
  Transformed t{std::move(*clone), nlohmann::json::array()};
  for (const TransformUse* s : steps) {
    auto tr = registry.make_transform(s->name, s->params);
    if (!tr) return tr.error();
    auto report = (*tr)->apply(*t.model, ctx);
    if (!report) return report.error().within("transform " + s->label + ":");
    t.log.push_back({{"use", s->name}, {"params", params_json(s->params)}, {"summary", report->summary}});
  }
  return t;
}

Result<nlohmann::json> evaluate_variants(const AttackConfig& c, const Registry& registry, RunContext& ctx, Model& original,
                                         Model& injected, Model& repaired) {
  auto sha = sha256_file(c.eval_prompts);
  if (!sha) return sha.error().within("[evaluate].prompts:");
  Evaluator e{c, registry, ctx, original, repaired, Dataset{c.eval_prompts.stem().string(), c.eval_prompts, *sha}, {}, {}, {}};
  auto behaviour = validated(registry, "content_injection", Kind::metric,
                             {{"patterns", c.patterns}, {"literal", c.literal}, {"chat", c.chat},
                              {"max_new_tokens", c.max_new_tokens}, {"batch_size", c.generation_batch}, {"examples", std::int64_t{4}}});
  if (!behaviour) return behaviour.error();
  e.behaviour = *behaviour;
  if (c.perplexity_data) {
    auto tsha = sha256_file(*c.perplexity_data);
    if (!tsha) return tsha.error().within("[evaluate].perplexity_data:");
    e.text = Dataset{c.perplexity_data->stem().string(), *c.perplexity_data, *tsha};
    auto kl = validated(registry, "kl_divergence", Kind::metric, c.perplexity);
    if (!kl) return kl.error().within("[evaluate.perplexity] as kl_divergence parameters:");
    e.kl = *kl;
  }
  nlohmann::json out = nlohmann::json::array();
  const std::vector<std::pair<std::string, Model*>> stages = {{"original", &original}, {"injected", &injected}, {"repaired", &repaired}};
  std::vector<Pending> group;
  for (const auto& [stage, model] : stages)
    group.push_back(Pending{variant_record(stage + " fp32", stage, "", std::nullopt, nlohmann::json::array()), model, nullptr});
  QRUN_TRY(e.run_group(group, out));
  for (const TransformUse& q : c.quantizers) {  // one group per quantizer
    for (const auto& [stage, model] : stages) {
      auto t = transformed_clone(registry, *model, {&q}, ctx);
      if (!t) return t.error();
      group.push_back(Pending{variant_record(stage + " " + q.label, stage, q.label, std::nullopt, t->log), t->model.get(),
                              std::move(t->model)});
    }
    for (const double s : c.noise_std) {
      auto noise_params = validated(registry, "weight_noise", Kind::transform,
                                    {{"std", s}, {"mode", c.noise_mode}, {"seed", c.noise_seed}});
      if (!noise_params) return noise_params.error();
      const TransformUse noise{"weight_noise", *noise_params, "weight_noise:std=" + std_label(s)};
      auto t = transformed_clone(registry, repaired, {&noise, &q}, ctx);
      if (!t) return t.error();
      group.push_back(Pending{variant_record("repaired noise " + std_label(s) + " " + q.label, "repaired", q.label, s, t->log),
                              t->model.get(), std::move(t->model)});
    }
    QRUN_TRY(e.run_group(group, out));
  }
  return out;
}

nlohmann::json acceptance_json(const AttackConfig& c, const nlohmann::json& variants, const nlohmann::json& codes) {
  auto rate_of = [&](const std::string& stage, const std::string& q, std::optional<double> noise) -> std::optional<double> {
    for (const auto& v : variants)
      if (v["stage"] == stage && v["quantizer"] == q && (noise ? v["noise_std"] == *noise : v["noise_std"].is_null()))
        return v["rate_pct"].get<double>();
    return std::nullopt;
  };
  nlohmann::json out = nlohmann::json::array();
  const auto fp = rate_of("repaired", "", std::nullopt);
  for (const TransformUse& t : c.targets) {
    nlohmann::json a = {{"target", t.label}, {"repaired_fp_rate_pct", fp ? nlohmann::json(*fp) : nlohmann::json()}};
    const auto q = rate_of("repaired", t.label, std::nullopt);
    a["repaired_quantized_rate_pct"] = q ? nlohmann::json(*q) : nlohmann::json();
    for (const auto& cc : codes)
      if (cc["target"] == t.label) a["code_flips"] = cc["flipped"];
    std::optional<double> defended_std;
    for (const double s : c.noise_std) {
      const auto r = rate_of("repaired", t.label, s);
      if (r && *r <= c.max_defended_rate_pct) {
        defended_std = s;
        break;
      }
    }
    a["smallest_defending_std"] = defended_std ? nlohmann::json(*defended_std) : nlohmann::json();
    a["fp_ok"] = fp && *fp <= c.max_fp_rate_pct;
    a["quantized_ok"] = q && *q >= c.min_quantized_rate_pct;
    a["codes_ok"] = a.contains("code_flips") && a["code_flips"] == 0;
    a["defense_ok"] = defended_std.has_value();
    a["thresholds"] = {{"max_fp_rate_pct", c.max_fp_rate_pct}, {"min_quantized_rate_pct", c.min_quantized_rate_pct},
                       {"max_defended_rate_pct", c.max_defended_rate_pct}};
    out.push_back(a);
  }
  return out;
}

std::string attack_markdown(const nlohmann::json& r) {
  std::ostringstream md;
  const auto num = [](const nlohmann::json& j, const char* fmt) -> std::string {
    if (!j.is_number()) return "–";
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, j.get<double>());
    return buf;
  };
  md << "# Quantization-conditioned attack: " << r["provenance"]["source_model"].get<std::string>() << "\n\n";
  md << "Method: " << r["provenance"]["method"].get<std::string>() << ". Data: " << r["data"]["examples"] << " prompts from `"
     << r["data"]["train_prompts"].get<std::string>() << "`; benign = " << r["data"]["benign"].get<std::string>()
     << ", malicious = " << r["data"]["malicious"].get<std::string>() << ".\n\n";
  md << "| stage | steps | lr | loss first → last | seconds |\n|---|---|---|---|---|\n";
  for (const char* s : {"inject", "repair"})
    md << "| " << s << " | " << r[s]["steps"] << " | " << num(r[s]["lr"], "%g") << " | " << num(r[s]["loss_first"], "%.3f")
       << " → " << num(r[s]["loss_last"], "%.3f") << " | " << num(r[s]["seconds"], "%.1f") << " |\n";
  md << "\nBoxes: " << r["boxes"]["layers"] << " layers, " << r["boxes"]["weights"] << " weights, "
     << num(r["boxes"]["frozen_fraction"].get<double>() * 100, "%.2f") << " % frozen, mean width "
     << num(r["boxes"]["mean_width"], "%.3g") << ". Repair moved " << r["repair"]["moved"] << " of " << r["repair"]["boxed"]
     << " boxed weights (" << num(r["repair"]["moved_fraction"].get<double>() * 100, "%.1f") << " %); "
     << r["repair"]["box_violations"] << " outside their box.\n\n";
  for (const auto& cc : r["codes"])
    md << "- codes under " << cc["target"].get<std::string>() << ": " << cc["flipped"] << " of " << cc["weights"]
       << " differ from the injected model's\n";
  md << "\n| variant | rate % | 95 % CI | PPL | KL vs repaired fp |\n|---|---|---|---|---|\n";
  for (const auto& v : r["variants"])
    md << "| " << v["name"].get<std::string>() << " | " << num(v["rate_pct"], "%.1f") << " (" << v["hits"] << "/" << v["n"]
       << ") | " << num(v.value("rate_ci_low_pct", nlohmann::json()), "%.1f") << "–"
       << num(v.value("rate_ci_high_pct", nlohmann::json()), "%.1f") << " | " << num(v.value("ppl", nlohmann::json()), "%.3f")
       << " | " << num(v.value("kl_mean_vs_repaired", nlohmann::json()), "%.4g") << " |\n";
  md << "\n## Acceptance\n\n";
  for (const auto& a : r["acceptance"])
    md << "- " << a["target"].get<std::string>() << ": repaired fp " << num(a["repaired_fp_rate_pct"], "%.1f") << " % ("
       << (a["fp_ok"].get<bool>() ? "ok" : "NOT met") << "), quantized " << num(a["repaired_quantized_rate_pct"], "%.1f")
       << " % (" << (a["quantized_ok"].get<bool>() ? "ok" : "NOT met") << "), code flips " << a.value("code_flips", nlohmann::json())
       << " (" << (a["codes_ok"].get<bool>() ? "ok" : "NOT met") << "), smallest defending noise std "
       << num(a["smallest_defending_std"], "%g") << " (" << (a["defense_ok"].get<bool>() ? "ok" : "NOT met") << ")\n";
  return md.str();
}

}  // namespace qrun::cli
