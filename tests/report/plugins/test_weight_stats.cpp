// TEST-ONLY metric plugin (libqrun_test_weight_stats.so, built into the test tree, never
// installed): a metric qrun has never heard of, declaring two values with a chart each and a
// report criterion on one. tests/report/declared_metric_test.cpp checks that the report gives it
// its own table, charts and verdicts, with nothing in framework/src/report knowing it.
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace {

struct Params {
  double threshold = 1.0;        // |w| above this counts as a large weight
  std::int64_t max_layers = 0;   // 0: every linear layer; else the first max_layers
};

const auto schema = qrun::schema<Params>(
    qrun::field("threshold", &Params::threshold).range(0.0, 100.0).doc("|w| above this is a large weight"),
    qrun::field("max_layers", &Params::max_layers).min(0).unit("layers").doc("0: all; else the first N linear layers"));

const qrun::MetricSpec spec{
    .compares_to_baseline = false,
    .needs_dataset = false,
    .values = {qrun::value("weight_rms", "weight RMS", "", qrun::Better::none)
                   .doc("RMS of the linear weights")
                   .counting("linear weights")
                   .headline()
                   .compared(qrun::Compare::change)
                   .charted(qrun::Chart::per_variant),
               qrun::value("large_weight_pct", "large weights", "%", qrun::Better::lower)
                   .doc("Share of linear weights above the threshold")
                   .counting("linear weights")
                   .charted(qrun::Chart::change_vs_baseline)
                   .criterion("max_large_weight_pct", qrun::Rule::at_most,
                              "TEST ONLY: share of linear weights with |w| above the threshold, in %")}};

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Params& p, const qrun::MetricInputs& in, qrun::RunContext&) {
  std::vector<qrun::MetricResult> out;
  for (const qrun::VariantModel& v : in.variants) {
    const auto names = v.model->linear_names();
    const auto all = static_cast<std::int64_t>(names.size());
    const std::int64_t used = p.max_layers > 0 ? std::min(p.max_layers, all) : all;
    double sum_sq = 0;  // float64 sums
    std::int64_t n = 0, large = 0;
    for (std::int64_t i = 0; i < used; ++i) {
      const at::Tensor w = v.model->linear(names[static_cast<std::size_t>(i)]).weight(at::kDouble);
      sum_sq += w.square().sum().item<double>();
      large += (w.abs() > p.threshold).sum().item<std::int64_t>();
      n += w.numel();
    }
    qrun::MetricResult r;
    // RMS = sqrt(Σw²/n); large share = 100 · #{|w| > threshold} / n
    r.values.push_back({"weight_rms", std::sqrt(sum_sq / static_cast<double>(n)), std::nullopt, n, "", qrun::Better::none, ""});
    r.values.push_back({"large_weight_pct", 100.0 * static_cast<double>(large) / static_cast<double>(n), std::nullopt, n, "",
                        qrun::Better::none, ""});  // unit and direction come from the declaration
    if (used < all)
      r.reductions.push_back("the first " + std::to_string(used) + " of " + std::to_string(all) +
                             " linear layers (max_layers=" + std::to_string(p.max_layers) + ")");
    r.method = "TEST ONLY: RMS of the linear weights and the share above the threshold, float64.";
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

QRUN_PLUGIN("test_weight_stats", "0.0.1",
            qrun::metric("test_weight_stats", schema, spec, "TEST ONLY: linear weight RMS and large-weight share", evaluate));
