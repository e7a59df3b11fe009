// multiple_choice's decisions, values and details: acc and acc_norm with Wilson intervals,
// flips of correctness against the baseline (McNemar's exact test), agreement of the chosen
// option, overall and per subject.
#pragma once

#include "mc_file.hpp"

#include <qrun/metric.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace qrun::mc {

// One model's scores of one item.
struct Scored {
  std::vector<double> lls;     // Σ log p of each choice's continuation
  std::int64_t pred = 0;       // argmax lls (first on ties, as numpy.argmax)
  std::int64_t pred_norm = 0;  // argmax lls / length(choice)
};

// lengths: each choice's length (UTF-8 bytes or code points) for acc_norm.
Scored decide(std::vector<double> lls, const std::vector<double>& lengths);

// The length of a choice for acc_norm: "bytes" (UTF-8 bytes) or "chars" (code points, Python's len()).
double choice_length(const std::string& choice, const std::string& norm);

std::vector<ValueSpec> mc_value_specs();

// flips_on: "acc" (pred) or "acc_norm" (pred_norm) decides correctness for flips and agreement.
std::vector<MetricValue> mc_values(const std::vector<Item>& items, const std::vector<Scored>& var,
                                   const std::vector<Scored>& base, const std::string& flips_on);

nlohmann::json mc_details(const std::vector<Item>& items, const std::vector<Scored>& var, const std::vector<Scored>& base,
                          const std::string& flips_on, std::int64_t examples, std::int64_t example_chars);

}  // namespace qrun::mc
