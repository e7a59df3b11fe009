// A typed, read-only view of a results.json document (schema in results/results.hpp), built
// once and used by every report section. Tolerant of partial documents: a variant without a
// metric, a metric without a value, a missing provenance field are all representable; only a
// document whose structure is wrong (not an object, variants not an array, a variant without a
// name, unsupported schema version) is an error.
#pragma once

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::report {

enum class Direction { higher, lower, none };  // results.json "better"

struct Value {
  std::string name;
  double value = 0;
  std::optional<double> stderr_;
  std::int64_t n = 0;
  std::string unit;
  Direction better = Direction::none;
  std::string group;  // "" = overall
};

struct MetricEntry {
  std::string label;    // key in the variant's "metrics" object
  std::string use;      // plugin id ("perplexity", ...); may be empty in hand-written files
  std::string dataset;  // "" when none
  nlohmann::json params = nlohmann::json::object();
  nlohmann::json details = nlohmann::json::object();
  std::string method;
  std::vector<Value> values;

  const Value* find(std::string_view name, std::string_view group = "") const;
  bool has_groups() const;
};

struct TransformEntry {
  std::string use;
  nlohmann::json params = nlohmann::json::object();
  std::string summary;
};

struct Variant {
  std::string name;
  bool baseline = false;
  bool complete = false;
  std::vector<TransformEntry> transforms;
  nlohmann::json storage;  // null when absent
  std::string compute_dtype, storage_dtype;
  std::vector<MetricEntry> metrics;

  const MetricEntry* metric(std::string_view label) const;
  // Storage field as a number ("total_bytes", ...), nullopt when absent.
  std::optional<double> storage_value(std::string_view key) const;
};

struct RunView {
  nlohmann::json experiment;    // the resolved experiment (object, possibly empty)
  nlohmann::json provenance;    // object, possibly empty
  nlohmann::json report_table;  // experiment.report (object, possibly empty)
  std::string experiment_file;
  std::string experiment_name;
  std::string title;
  std::vector<Variant> variants;
  std::vector<std::string> metric_labels;  // experiment order first, then alphabetical
  // True only when the document says "complete": true AND every variant has a cell for every
  // metric the experiment lists and is itself marked complete: a flag alone never makes a
  // report look finished.
  bool complete = false;
  bool marked_complete = false;  // the document's own "complete" flag
  struct MissingCells {
    std::string variant;
    std::vector<std::string> labels;  // experiment metric labels without a cell
  };
  std::vector<MissingCells> missing;  // variants with missing cells, in variant order
  std::string run_error;              // the document's "error" (why the run stopped), "" when none

  const Variant* baseline() const;  // the variant marked baseline, else nullptr
  const Variant* variant(std::string_view name) const;
  // The first entry with this label among the variants (for its use/params/method).
  const MetricEntry* any_metric(std::string_view label) const;
};

// `source` names the document in errors (a path or "results").
Result<RunView> view_results(const nlohmann::json& results, const std::string& source = "results");

// "higher" | "lower" | "none"
std::string_view to_string(Direction d);
// A display label for a value name ("ppl" -> "PPL", "kl_p99.9" -> "KL 99.9 %"); unknown names
// are returned unchanged.
std::string value_label(std::string_view name);
// A value as a percentage: unit "%" as is; unit "" or "fraction" times 100; else nullopt.
std::optional<double> as_percent(const Value& v);

}  // namespace qrun::report
