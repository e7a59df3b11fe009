// Metrics turn models (and a dataset) into typed values. A metric either scores each model on
// its own (perplexity, size, speed) or compares variants with the baseline in lockstep
// (kl_divergence, prompt_suite): the spec's `compares_to_baseline` says which.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun {

enum class Better { higher, lower, none };
std::string_view to_string(Better b);  // "higher", "lower", "none"

// One number. Values with the same name and different `group` form a table (e.g. per category).
struct MetricValue {
  std::string name;                  // "ppl", "kl_mean", "success_rate", ...
  double value = 0;
  std::optional<double> stderr_;     // standard error, when the protocol allows one
  std::int64_t n = 0;                // how many items the value summarises (tokens, prompts)
  std::string unit;                  // "", "nats", "%", "bytes", "tokens/s"
  Better better = Better::none;
  std::string group;                 // "" for overall; e.g. a prompt category
};

// A metric's result for one variant.
struct MetricResult {
  std::vector<MetricValue> values;
  nlohmann::json details;            // structured extras (percentile tables, per-prompt outputs)
  std::string method;                // how it was computed, in one paragraph (goes to the report)
};

// A dataset declared in the experiment ([[datasets]]) and handed to the metrics that name it.
struct Dataset {
  std::string name;
  std::filesystem::path path;
  std::string sha256;
};

struct VariantModel {
  std::string name;
  Model* model = nullptr;
  bool is_baseline = false;
};

struct MetricInputs {
  Model* baseline = nullptr;            // always set (for per-model metrics too)
  std::vector<VariantModel> variants;   // the models to evaluate (per-model metrics: exactly one)
  const Dataset* dataset = nullptr;     // set when the metric entry names a dataset
};

class Metric {
 public:
  virtual ~Metric() = default;
  // One MetricResult per entry of in.variants, in the same order.
  virtual Result<std::vector<MetricResult>> evaluate(const MetricInputs& in, RunContext& ctx) = 0;
};

}  // namespace qrun
