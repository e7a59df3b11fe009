// Shared helpers for the report tests: the golden results.json fixture and Markdown lookups.
#pragma once

#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace qrun::test {

// tests/report/golden/results.json (baseline fp16 + int8 + nf4; perplexity, kl_divergence,
// prompt_suite with 4 categories, model_size, speed; seven criteria in experiment.report).
nlohmann::json golden_results();
// render_report / render_comparison of results.json documents: results_from_json, then render.
qrun::Result<std::vector<qrun::ReportFile>> render_json(const nlohmann::json& results);
qrun::Result<std::vector<qrun::ReportFile>> compare_json(const nlohmann::json& a, const nlohmann::json& b,
                                                         const std::string& label_a, const std::string& label_b);
// The rendered report.md of a results document (FAILs the test when rendering fails).
std::string render_md(const nlohmann::json& results);
// Cells of the first table row, after the line `heading`, whose first cell is `first` (trimmed);
// empty when not found.
std::vector<std::string> table_row(const std::string& md, const std::string& heading, const std::string& first);
std::string read_file(const std::string& path);

}  // namespace qrun::test
