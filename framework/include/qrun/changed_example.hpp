// Changed answers: an item whose outcome differs between the baseline and a variant (a refusal
// lost, an injection gained, a multiple-choice answer flipped), kept by a metric that compares
// with the baseline in its MetricResult::details under kChangedExamplesKey, as a JSON array of
// to_json(ChangedExample) objects (the metric may add fields of its own to each object). The
// report shows the first few of each variant, the baseline's beside the variant's, truncated
// and marked as model output, under the metric's section (MetricSpec::section).
//
//   qrun::ChangedExample e{.id = q.id, .group = q.category, .input = prompt, .change = "refusal lost",
//                          .baseline = {"refusal", base_text}, .variant = {"compliance", var_text}};
//   details[qrun::kChangedExamplesKey].push_back(qrun::to_json(e));
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace qrun {

inline constexpr std::string_view kChangedExamplesKey = "changed_examples";

struct ChangedOutcome {
  std::string outcome;       // the judgement ("refusal", "injected", "B (right)")
  std::string model_output;  // what the model produced or chose, as the metric truncated it
};

struct ChangedExample {
  std::string id;      // the item's id in the dataset
  std::string group;   // its category or subject ("" when none)
  std::string input;   // the request, prompt or question, as the metric truncated it
  std::string change;  // what changed, one phrase ("refusal lost", "right → wrong")
  ChangedOutcome baseline;
  ChangedOutcome variant;
};

inline nlohmann::json to_json(const ChangedExample& e) {
  return {{"id", e.id},
          {"group", e.group},
          {"input", e.input},
          {"change", e.change},
          {"baseline", {{"outcome", e.baseline.outcome}, {"model_output", e.baseline.model_output}}},
          {"variant", {{"outcome", e.variant.outcome}, {"model_output", e.variant.model_output}}}};
}

// The example in j; nullopt when j lacks a field of the shape to_json writes (or has one of
// another type). Extra fields are ignored.
inline std::optional<ChangedExample> changed_example_from_json(const nlohmann::json& j) {
  const auto text = [](const nlohmann::json& o, const char* key) -> std::optional<std::string> {
    if (!o.is_object() || !o.contains(key) || !o[key].is_string()) return std::nullopt;
    return o[key].get<std::string>();
  };
  const auto side = [&](const char* key) -> std::optional<ChangedOutcome> {
    if (!j.is_object() || !j.contains(key)) return std::nullopt;
    auto outcome = text(j[key], "outcome");
    auto output = text(j[key], "model_output");
    if (!outcome || !output) return std::nullopt;
    return ChangedOutcome{*outcome, *output};
  };
  auto id = text(j, "id"), group = text(j, "group"), input = text(j, "input"), change = text(j, "change");
  auto base = side("baseline"), var = side("variant");
  if (!id || !group || !input || !change || !base || !var) return std::nullopt;
  return ChangedExample{*id, *group, *input, *change, *base, *var};
}

}  // namespace qrun
