// The report's sections, each a function from the results view to Markdown. report.cpp and
// comparison.cpp assemble them; each lives in its own file (header.cpp, summary.cpp,
// verdict.cpp, metric_tables.cpp, category_tables.cpp, charts.cpp, method.cpp).
#pragma once

#include "report/criteria.hpp"
#include "report/results_view.hpp"
#include "report/svg_chart.hpp"

#include <optional>
#include <string>
#include <vector>

namespace qrun::report {

// header.cpp: title, INCOMPLETE RUN banner, provenance table, variants overview.
std::string render_header(const RunView& run);
std::string render_incomplete_banner(const RunView& run);  // "" when complete
std::string render_variants_overview(const RunView& run);
std::string transform_chain(const Variant& v);  // "`nf4`(blocksize=64) → ..." or "none"
std::string params_text(const nlohmann::json& params);  // "a=1, b=\"x\"" (sorted keys), "" when none

// summary.cpp: one paragraph per variant, adjectives only from criteria thresholds.
std::string render_summary(const RunView& run, const CriteriaSet& criteria);

// verdict.cpp: the pass/fail table (heading given by the caller's level).
std::string render_verdict_section(const RunView& run, const CriteriaSet& criteria, const std::string& heading);

// metric_tables.cpp: one section per metric label (overall values, Δ vs baseline).
std::string render_metric_section(const RunView& run, const std::string& label);
// The text of a value cell: "12.85 ± 0.0912" with unit; "n/a" for non-finite values.
std::string value_cell(const Value& v);
// "Δ" text of a value vs the baseline's (percent change, pp for percentages, slowdown for
// throughput, size ratio for bytes); "" when not comparable.
std::string delta_cell(const Value& v, const Value& base);

// category_tables.cpp: grouped values (per category) and the Δ harm tables.
std::string render_category_tables(const RunView& run, const std::string& label);
// Harm-oriented difference (positive = worse) of v against ref in v's unit; nullopt without a direction.
std::optional<double> harm_delta(const Value& v, const Value& ref);

// charts.cpp
struct ChartFile {
  std::string file;   // "chart_perplexity_ppl_delta.svg"
  BarChart chart;
};
std::vector<ChartFile> build_charts(const RunView& run);
// Markdown for the charts: a link/image per SVG and its text bars in a code block.
std::string render_charts_section(const std::vector<ChartFile>& charts);
std::string chart_text_bars(const BarChart& chart);

// method.cpp
std::string render_method(const RunView& run, const CriteriaSet& criteria);

}  // namespace qrun::report
