// quantization_detector: are a model's linear weights dequantized bitsandbytes weights (NF4/FP4
// blocks with at most 16 values proportional to the code book, LLM.int8 rows on an absmax/127
// grid)? The test, its tolerance and the decision rule are qrun/forensics/dequant_detector.hpp's.
// Also: dequantized GGUF weights (ggml types, by re-quantization equality: ggml_detection.hpp).
// Every variant is examined, and so is the baseline: a genuine baseline must give "no evidence"
// (the false-positive check), recorded beside each variant's verdict.
#include "ggml_detection.hpp"

#include <qrun/forensics/dequant_detector.hpp>
#include <qrun/plugin.hpp>

#include <string>
#include <vector>

namespace {

namespace fx = qrun::forensics;

struct Params {
  std::int64_t max_values = fx::kDefaultMaxValues;
  std::int64_t min_units = fx::kDefaultMinUnits;
  double fit_threshold = fx::kDefaultFitThreshold;
  double chance_ceiling = fx::kDefaultChanceCeiling;
  std::int64_t seed = 0;
  bool ggml = true;
  std::int64_t ggml_rows = 64;
  double ggml_threshold = 0.1;
};

const auto schema = qrun::schema<Params>(
    qrun::field("max_values", &Params::max_values).min(0).unit("values")
        .doc("values examined per layer and scheme, whole blocks/rows evenly sampled (0: all)"),
    qrun::field("min_units", &Params::min_units).min(1).unit("units")
        .doc("a scheme is tested on a layer only when the layer gives it this many non-zero units"),
    qrun::field("fit_threshold", &Params::fit_threshold).range(0.0, 1.0)
        .doc("fraction of a layer's units that must fit the scheme to flag the layer"),
    qrun::field("chance_ceiling", &Params::chance_ceiling).range(0.0, 1.0)
        .doc("highest fraction of a Gaussian reference's units that may fit for a flag to count"),
    qrun::field("seed", &Params::seed).min(0).doc("seed of the Gaussian reference"),
    qrun::field("ggml", &Params::ggml).doc("also test for dequantized GGUF weights (ggml types, by re-quantization)"),
    qrun::field("ggml_rows", &Params::ggml_rows).min(0).unit("rows")
        .doc("GGUF test: rows re-quantized per layer, evenly spaced (0: all)"),
    qrun::field("ggml_threshold", &Params::ggml_threshold).range(0.0, 1.0)
        .doc("GGUF test: share of a layer's blocks a type must reproduce exactly to flag the layer"));

// One row per layer: its best scheme with the observed and chance rates.
nlohmann::json layer_rows(const fx::DetectionReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const fx::LayerEvidence& l : r.layers) {
    nlohmann::json j = {{"name", l.name}, {"kind", l.kind}, {"effective_dtype", std::string(qrun::to_string(l.effective_dtype))},
                        {"flagged", l.flagged}, {"best", nullptr}};
    if (const fx::CandidateEvidence* b = l.best_evidence()) {
      j["best"] = fx::short_name(b->candidate);
      j["unit_fit_rate"] = b->observed.unit_rate();
      j["chance_unit_fit_rate"] = b->chance.unit_rate();
      j["element_fit_rate"] = b->observed.element_rate();
      j["chance_element_fit_rate"] = b->chance.element_rate();
      j["units"] = b->observed.units;
      j["mean_distinct_per_unit"] = b->observed.mean_distinct();
    }
    rows.push_back(std::move(j));
  }
  return rows;
}

// Mean over tested layers of the best scheme's unit fit rate, observed and on the reference.
std::pair<double, double> mean_best_rates(const fx::DetectionReport& r) {
  double observed = 0, chance = 0;
  std::int64_t n = 0;
  for (const fx::LayerEvidence& l : r.layers)
    if (const fx::CandidateEvidence* b = l.best_evidence()) {
      observed += b->observed.unit_rate();
      chance += b->chance.unit_rate();
      ++n;
    }
  return n > 0 ? std::pair{observed / n, chance / n} : std::pair{0.0, 0.0};
}

const qrun::MetricSpec spec{
    .compares_to_baseline = false,
    .needs_dataset = false,
    .values = {
        qrun::value("dequantized", "dequantized (1 = yes)")
            .doc("The verdict: 1 when the weights are dequantized NF4/FP4/LLM.int8 or GGUF weights")
            .counting("linear layers tested")
            .headline(),
        qrun::value("flagged_layers", "flagged layers", "layers").doc("Layers flagged by any scheme").counting("linear layers tested"),
        qrun::value("ggml_flagged_layers", "GGUF flagged layers", "layers")
            .doc("Layers whose weights a ggml type reproduces by re-quantization (dequantized GGUF)")
            .counting("linear layers with rows of whole 32-value blocks"),
        qrun::value("unit_fit_rate", "unit fit rate", "%")
            .doc("Mean over tested layers of the best scheme's fraction of fitting units")
            .counting("linear layers tested"),
        qrun::value("chance_unit_fit_rate", "chance unit fit rate", "%")
            .doc("The same on Gaussian weights of each layer's shape: the rate expected by chance")
            .counting("linear layers tested"),
        qrun::value("baseline_flagged_layers", "baseline flagged layers", "layers", qrun::Better::lower)
            .doc("The false-positive check: layers flagged on the baseline (0 for a genuine baseline)")
            .counting("baseline linear layers tested")
            .compared(qrun::Compare::none),
    }};

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Params& p, const qrun::MetricInputs& in,
                                                       qrun::RunContext&) {
  using qrun::Better;
  fx::DetectorConfig config;
  config.max_values = p.max_values;
  config.min_units = p.min_units;
  config.fit_threshold = p.fit_threshold;
  config.chance_ceiling = p.chance_ceiling;
  config.seed = static_cast<std::uint64_t>(p.seed);
  QRUN_TRY(fx::check_config(config, "quantization_detector"));
  if (!in.baseline) return qrun::Error{"quantization_detector", "got no baseline model", "report this as a bug",
                                       qrun::ErrorCode::internal};
  auto baseline = fx::detect_dequantized(*in.baseline, config);
  if (!baseline) return baseline.error().within("quantization_detector baseline:");
  qrun::detect_gguf::Report ggml_baseline;
  if (p.ggml) {
    auto g = qrun::detect_gguf::detect(*in.baseline, p.ggml_rows, p.ggml_threshold);
    if (!g) return g.error().within("quantization_detector baseline:");
    ggml_baseline = std::move(*g);
  }

  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"quantization_detector", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
    qrun::Result<fx::DetectionReport> report = *baseline;
    if (v.model != in.baseline) report = fx::detect_dequantized(*v.model, config);
    if (!report) return report.error().within("quantization_detector variant " + v.name + ":");
    qrun::detect_gguf::Report ggml_report = ggml_baseline;
    if (p.ggml && v.model != in.baseline) {
      auto g = qrun::detect_gguf::detect(*v.model, p.ggml_rows, p.ggml_threshold);
      if (!g) return g.error().within("quantization_detector variant " + v.name + ":");
      ggml_report = std::move(*g);
    }
    const fx::Verdict& verdict = report->verdict;
    const auto [observed, chance] = mean_best_rates(*report);
    const std::int64_t tested = verdict.tested_layers;
    qrun::MetricResult r;
    r.values = {
        {"dequantized", verdict.dequantized || ggml_report.dequantized ? 1.0 : 0.0, std::nullopt, tested, "", Better::none, ""},
        {"flagged_layers", static_cast<double>(verdict.flagged_layers + verdict.other_flagged_layers), std::nullopt,
         tested, "layers", Better::none, ""},
        {"ggml_flagged_layers", static_cast<double>(ggml_report.flagged), std::nullopt,
         static_cast<std::int64_t>(ggml_report.layers.size()), "layers", Better::none, ""},
        // mean over tested layers of the best scheme's fraction of fitting units, and the same on the reference
        {"unit_fit_rate", 100.0 * observed, std::nullopt, tested, "%", Better::none, ""},
        {"chance_unit_fit_rate", 100.0 * chance, std::nullopt, tested, "%", Better::none, ""},
        // the false-positive check: layers flagged on the baseline (0 for a genuine baseline)
        {"baseline_flagged_layers",
         static_cast<double>(baseline->verdict.flagged_layers + baseline->verdict.other_flagged_layers +
                             ggml_baseline.flagged), std::nullopt,
         baseline->verdict.tested_layers, "layers", Better::lower, ""},
    };
    r.details = {{"verdict", verdict.text()},
                 {"scheme", verdict.candidate ? nlohmann::json(fx::short_name(*verdict.candidate)) : nlohmann::json()},
                 {"baseline_verdict", baseline->verdict.text()},
                 {"layers", layer_rows(*report)}};
    if (p.ggml)
      r.details["ggml"] = {{"verdict", ggml_report.verdict()}, {"baseline_verdict", ggml_baseline.verdict()},
                           {"rows_per_layer", p.ggml_rows}, {"layers", qrun::detect_gguf::layer_rows(ggml_report)}};
    r.method = fx::decision_rule(config) +
               " The same detector runs on the baseline as the false-positive check (baseline_flagged_layers; a "
               "genuine baseline gives 'no evidence').";
    if (p.ggml) r.method += std::string(" ") + qrun::detect_gguf::kRule + " `dequantized` is 1 when either test says so.";
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("quantization_detector", "0.1.0",
            qrun::metric("quantization_detector", schema, spec,
                         "Detects linear weights that are dequantized NF4/FP4/LLM.int8 or GGUF (ggml types) weights, "
                         "with the baseline as false-positive check",
                         evaluate));
