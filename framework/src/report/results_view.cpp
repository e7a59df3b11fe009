#include "report/results_view.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace qrun::report {

namespace {

using nlohmann::json;

constexpr int kSupportedSchemaVersion = 1;  // results/results.hpp kResultsSchemaVersion

std::string string_or(const json& j, const char* key, std::string fallback = "") {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return fallback;
}

Error bad(const std::string& source, const std::string& where, const std::string& reason) {
  return Error{source + " " + where, reason, "regenerate it with `qrun` or correct the file by hand"};
}

Result<Value> parse_value(const json& j, const std::string& source, const std::string& where) {
  if (!j.is_object()) return bad(source, where, "is not an object");
  if (!j.contains("name") || !j["name"].is_string()) return bad(source, where + ".name", "is missing or not a string");
  if (!j.contains("value") || !j["value"].is_number()) {
    // JSON has no NaN: writers store non-finite numbers as null.
    if (!(j.contains("value") && j["value"].is_null())) return bad(source, where + ".value", "is missing or not a number");
  }
  Value v;
  v.name = j["name"].get<std::string>();
  v.value = j["value"].is_null() ? std::nan("") : j["value"].get<double>();
  if (j.contains("stderr") && j["stderr"].is_number()) v.stderr_ = j["stderr"].get<double>();
  if (j.contains("n") && j["n"].is_number()) v.n = j["n"].get<std::int64_t>();
  v.unit = string_or(j, "unit");
  std::string better = string_or(j, "better", "none");
  v.better = better == "higher" ? Direction::higher : better == "lower" ? Direction::lower : Direction::none;
  v.group = string_or(j, "group");
  return v;
}

Result<MetricEntry> parse_metric(const std::string& label, const json& j, const std::string& source,
                                 const std::string& where) {
  if (!j.is_object()) return bad(source, where, "is not an object");
  MetricEntry m;
  m.label = label;
  m.use = string_or(j, "use");
  m.dataset = string_or(j, "dataset");
  if (j.contains("params") && j["params"].is_object()) m.params = j["params"];
  if (j.contains("details") && !j["details"].is_null()) m.details = j["details"];
  m.method = string_or(j, "method");
  if (j.contains("values")) {
    if (!j["values"].is_array()) return bad(source, where + ".values", "is not an array");
    for (std::size_t i = 0; i < j["values"].size(); ++i) {
      auto v = parse_value(j["values"][i], source, where + ".values[" + std::to_string(i) + "]");
      if (!v) return v.error();
      m.values.push_back(std::move(*v));
    }
  }
  return m;
}

Result<Variant> parse_variant(const json& j, const std::string& source, const std::string& where) {
  if (!j.is_object()) return bad(source, where, "is not an object");
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    return bad(source, where + ".name", "is missing or empty");
  Variant v;
  v.name = j["name"].get<std::string>();
  v.baseline = j.value("baseline", false);
  v.complete = j.value("complete", false);
  if (j.contains("transforms") && j["transforms"].is_array()) {
    for (const auto& t : j["transforms"]) {
      TransformEntry te;
      te.use = string_or(t, "use");
      if (t.is_object() && t.contains("params") && t["params"].is_object()) te.params = t["params"];
      te.summary = string_or(t, "summary");
      v.transforms.push_back(std::move(te));
    }
  }
  if (j.contains("storage") && j["storage"].is_object()) v.storage = j["storage"];
  v.compute_dtype = string_or(j, "compute_dtype");
  v.storage_dtype = string_or(j, "storage_dtype");
  if (j.contains("metrics")) {
    if (!j["metrics"].is_object()) return bad(source, where + ".metrics", "is not an object");
    for (const auto& [label, mj] : j["metrics"].items()) {
      auto m = parse_metric(label, mj, source, where + ".metrics." + label);
      if (!m) return m.error();
      v.metrics.push_back(std::move(*m));
    }
  }
  return v;
}

// Label of an experiment [[metrics]] entry as the runner names it: label, else name, else use.
std::string experiment_metric_label(const json& m) {
  for (const char* key : {"label", "name", "use"})
    if (auto s = string_or(m, key); !s.empty()) return s;
  return "";
}

}  // namespace

const Value* MetricEntry::find(std::string_view name, std::string_view group) const {
  for (const auto& v : values)
    if (v.name == name && v.group == group) return &v;
  return nullptr;
}

bool MetricEntry::has_groups() const {
  return std::any_of(values.begin(), values.end(), [](const Value& v) { return !v.group.empty(); });
}

const MetricEntry* Variant::metric(std::string_view label) const {
  for (const auto& m : metrics)
    if (m.label == label) return &m;
  return nullptr;
}

std::optional<double> Variant::storage_value(std::string_view key) const {
  if (!storage.is_object()) return std::nullopt;
  auto it = storage.find(std::string(key));
  if (it == storage.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

const Variant* RunView::baseline() const {
  for (const auto& v : variants)
    if (v.baseline) return &v;
  return nullptr;
}

const Variant* RunView::variant(std::string_view name) const {
  for (const auto& v : variants)
    if (v.name == name) return &v;
  return nullptr;
}

const MetricEntry* RunView::any_metric(std::string_view label) const {
  for (const auto& v : variants)
    if (const auto* m = v.metric(label)) return m;
  return nullptr;
}

Result<RunView> view_results(const json& j, const std::string& source) {
  if (!j.is_object()) return Error{source, "is not a JSON object", "pass a results.json written by qrun"};
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return Error{source + " schema_version", "is missing", "pass a results.json written by qrun"};
  if (int sv = j["schema_version"].get<int>(); sv != kSupportedSchemaVersion)
    return Error{source + " schema_version", "is " + std::to_string(sv) + ", this qrun reads version " +
                     std::to_string(kSupportedSchemaVersion),
                 "render it with the qrun version that wrote it"};
  if (!j.contains("variants") || !j["variants"].is_array())
    return bad(source, "variants", "is missing or not an array");

  RunView r;
  if (j.contains("experiment") && j["experiment"].is_object()) r.experiment = j["experiment"];
  else r.experiment = json::object();
  if (j.contains("provenance") && j["provenance"].is_object()) r.provenance = j["provenance"];
  else r.provenance = json::object();
  r.report_table = r.experiment.contains("report") && r.experiment["report"].is_object() ? r.experiment["report"]
                                                                                          : json::object();
  r.experiment_file = string_or(j, "experiment_file");
  r.experiment_name = string_or(r.experiment, "name");
  if (r.experiment_name.empty() && r.experiment.contains("experiment"))
    r.experiment_name = string_or(r.experiment["experiment"], "name");
  r.title = string_or(r.report_table, "title");
  if (r.title.empty()) r.title = r.experiment_name.empty() ? "qrun harm report" : "Harm report: " + r.experiment_name;
  r.marked_complete = j.value("complete", false);
  r.run_error = string_or(j, "error");

  for (std::size_t i = 0; i < j["variants"].size(); ++i) {
    auto v = parse_variant(j["variants"][i], source, "variants[" + std::to_string(i) + "]");
    if (!v) return v.error();
    if (r.variant(v->name))
      return bad(source, "variants[" + std::to_string(i) + "].name", "repeats the name \"" + v->name + "\"");
    r.variants.push_back(std::move(*v));
  }
  if (std::count_if(r.variants.begin(), r.variants.end(), [](const Variant& v) { return v.baseline; }) > 1)
    return bad(source, "variants", "marks more than one variant as baseline");

  // Metric order: as the experiment lists them, then any others alphabetically.
  std::vector<std::string> present;
  for (const auto& v : r.variants)
    for (const auto& m : v.metrics)
      if (std::find(present.begin(), present.end(), m.label) == present.end()) present.push_back(m.label);
  std::sort(present.begin(), present.end());
  if (r.experiment.contains("metrics") && r.experiment["metrics"].is_array())
    for (const auto& m : r.experiment["metrics"]) {
      std::string label = experiment_metric_label(m);
      auto it = std::find(present.begin(), present.end(), label);
      if (it != present.end()) {
        r.metric_labels.push_back(label);
        present.erase(it);
      }
    }
  r.metric_labels.insert(r.metric_labels.end(), present.begin(), present.end());

  // Completeness from the cells themselves: every metric the experiment lists, on every variant.
  std::vector<std::string> expected;
  if (r.experiment.contains("metrics") && r.experiment["metrics"].is_array())
    for (const auto& m : r.experiment["metrics"])
      if (auto label = experiment_metric_label(m); !label.empty()) expected.push_back(label);
  bool all_variants_complete = true;
  for (const auto& v : r.variants) {
    RunView::MissingCells mc{v.name, {}};
    for (const auto& label : expected)
      if (!v.metric(label)) mc.labels.push_back(label);
    if (!mc.labels.empty()) r.missing.push_back(std::move(mc));
    all_variants_complete = all_variants_complete && v.complete;
  }
  r.complete = r.marked_complete && r.missing.empty() && all_variants_complete && r.run_error.empty();
  return r;
}

std::string_view to_string(Direction d) {
  switch (d) {
    case Direction::higher: return "higher";
    case Direction::lower: return "lower";
    default: return "none";
  }
}

std::string value_label(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> labels = {
      {"ppl", "PPL"},
      {"ppl_token_mean", "PPL (token mean)"},
      {"nll_mean", "mean NLL"},
      {"tokens", "tokens scored"},
      {"word_perplexity", "word PPL"},
      {"byte_perplexity", "byte PPL"},
      {"bits_per_byte", "bits/byte"},
      {"kl_mean", "mean KL"},
      {"kl_max", "KL max"},
      {"kl_median", "KL median"},
      {"kl_min", "KL min"},
      {"dp_mean", "mean Δp"},
      {"dp_rms", "RMS Δp"},
      {"dp_max", "Δp max"},
      {"dp_median", "Δp median"},
      {"dp_min", "Δp min"},
      {"same_top_p", "same top p"},
      {"ppl_variant", "PPL (variant)"},
      {"ppl_base", "PPL (baseline)"},
      {"ln_ppl_ratio", "ln(PPL_Q/PPL_base)"},
      {"ppl_ratio", "PPL_Q/PPL_base"},
      {"nll_correlation", "NLL correlation"},
      {"success_rate", "success"},
      {"gen_seconds", "mean time"},
      {"tokens_per_s", "tokens/s"},
      {"accuracy", "accuracy"},
      {"agreement", "agreement"},
      {"prefix_agreement", "prefix agreement"},
      {"total_bytes", "total size"},
      {"linear_bytes", "linear size"},
      {"quantized_linear_bytes", "quantized linear size"},
      {"hf_footprint_bytes", "HF footprint"},
      {"fp16_bytes", "fp16 size"},
      {"compression", "compression"},
      {"compression_vs_fp16", "compression vs fp16"},
      {"parameters", "parameters"},
      {"linear_bits_per_parameter", "linear bits/parameter"},
      {"linear_compression_vs_fp16", "linear compression vs fp16"},
      {"prefill_tokens_per_s", "prefill tokens/s"},
      {"decode_tokens_per_s", "decode tokens/s"},
      {"flip_rate", "flip rate"},
  };
  auto it = labels.find(name);
  if (it != labels.end()) return it->second;
  // Percentiles as KlStats names them: kl_p99.9 -> "KL 99.9 %", dp_p0.1 -> "Δp 0.1 %".
  for (const auto& [prefix, label] : {std::pair<std::string_view, std::string_view>{"kl_p", "KL "}, {"dp_p", "Δp "}})
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) {
      std::string q(name.substr(prefix.size()));
      if (q.find_first_not_of("0123456789.") == std::string::npos) return std::string(label) + q + " %";
    }
  return std::string(name);
}

std::optional<double> as_percent(const Value& v) {
  if (v.unit == "%") return v.value;
  if (v.unit.empty() || v.unit == "fraction") return 100.0 * v.value;
  return std::nullopt;
}

}  // namespace qrun::report
