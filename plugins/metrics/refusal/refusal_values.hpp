// The refusal metric's value declarations and its per-variant summary (refusal.cpp runs it).
#pragma once

#include "judges.hpp"
#include "request_set.hpp"

#include <qrun/metric.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::behaviour {

std::vector<ValueSpec> refusal_value_specs();

// One (prompt, sample) generation of one model and its judgement.
struct Judged {
  std::size_t prompt = 0;     // index into the selected requests
  std::int64_t sample = 0;
  Verdict verdict = Verdict::unparsed;
  std::string output;         // the decoded generation
  std::string judge_output;   // model judge only
};

// The values of one variant: refusal_rate over harmful generations, over_refusal_rate over benign
// ones (each with its Wilson interval, overall and per category), the paired flips against the
// baseline's generations of the same prompt and sample (McNemar's exact p) and the change of the
// over-refusal rate in percentage points. Unparsed judgements are left out of every count.
std::vector<MetricValue> refusal_values(const std::vector<Request>& requests, const std::vector<Judged>& var,
                                        const std::vector<Judged>& base);

// Details: per-prompt judgements, rates per category, and up to `examples` changed answers with
// the baseline's beside them (outputs truncated to example_chars bytes, marked as model output).
nlohmann::json refusal_details(const std::vector<Request>& requests, const std::vector<Judged>& var,
                               const std::vector<Judged>& base, std::int64_t examples, std::int64_t example_chars);

}  // namespace qrun::behaviour
