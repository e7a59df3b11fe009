// The report's sections, each a function from the run view to Markdown. report.cpp and
// comparison.cpp assemble them; each lives in its own file (header.cpp, banners.cpp,
// summary.cpp, verdict.cpp, metric_tables.cpp, category_tables.cpp, charts.cpp, method.cpp).
// Every value is shown through its declaration (ValueSpec): label, unit, direction, comparison.
#pragma once

#include "report/criteria.hpp"
#include "report/run_view.hpp"
#include "report/svg_chart.hpp"

#include <optional>
#include <string>
#include <vector>

namespace qrun::report {

// header.cpp: title, banners, provenance table (with the run's --set overrides), variants overview.
std::string render_header(const RunView& run);
std::string render_variants_overview(const RunView& run);
std::string transform_chain(const VariantRecord& v);    // "`nf4`(blocksize=64) → ..." or "none"
std::string params_text(const nlohmann::json& params);  // "a=1, b=\"x\"" (sorted keys), "" when none

// banners.cpp: INCOMPLETE RUN and REDUCED RUN ("" when not needed).
std::string render_incomplete_banner(const RunView& run);
std::string render_reduced_banner(const RunView& run);

// summary.cpp: one paragraph per variant (headline values), adjectives only from criteria thresholds.
std::string render_summary(const RunView& run, const CriteriaSet& criteria);

// verdict.cpp: the pass/fail table (heading given by the caller's level).
std::string render_verdict_section(const RunView& run, const CriteriaSet& criteria, const std::string& heading);

// metric_tables.cpp: one section per metric label (overall values, Δ vs baseline), its heading
// at `level` ("##" for 2), its category tables one level below.
std::string render_metric_section(const RunView& run, const std::string& label, int level = 2);
// The text of a value cell: "12.85 ± 0.0912" with the declared unit; "n/a" for non-finite values.
std::string value_cell(const MetricValue& v, const ValueSpec& s);
// The change of v against the baseline's value by the declaration's Compare rule ("+0.46 %",
// "+2.13 pp", "1.252×" slowdown, "1.596× smaller"); "" when not comparable.
std::string delta_cell(const MetricValue& v, const MetricValue& base, const ValueSpec& s);
// The same change as a number, with its unit ("%", "pp", "×"); nullopt when not comparable.
std::optional<double> delta_value(const MetricValue& v, const MetricValue& base, const ValueSpec& s);
std::string delta_unit(const ValueSpec& s);

// category_tables.cpp: grouped values (per category) and the Δ harm tables.
std::string render_category_tables(const RunView& run, const std::string& label, int level = 3);
// Harm-oriented difference (positive = worse) of v against ref in the declared unit; nullopt
// for a value without a direction.
std::optional<double> harm_delta(const MetricValue& v, const MetricValue& ref, const ValueSpec& s);

// charts.cpp: the charts the declarations ask for, plus the storage size chart.
struct ChartFile {
  std::string file;   // "chart_perplexity_ppl_delta.svg"
  BarChart chart;
  std::string label;  // the metric label it shows ("" for the storage chart)
};
std::vector<ChartFile> build_charts(const RunView& run);
// Markdown for the charts: a link/image per SVG and its text bars in a code block.
std::string render_charts_section(const std::vector<ChartFile>& charts);
// One chart: heading at `level`, the linked SVG, its text bars.
std::string render_chart(const ChartFile& chart, int level);

// named_section.cpp: the metrics whose spec names a section (MetricSpec::section), together under
// "## <section>": per metric its tables and charts, the worst categories of each variant against
// the baseline, and its changed answers (qrun/changed_example.hpp) beside the baseline's.
std::string render_named_section(const RunView& run, const std::string& section, const std::vector<std::string>& labels,
                                 const std::vector<ChartFile>& charts);
std::string chart_text_bars(const BarChart& chart);

// method.cpp
std::string render_method(const RunView& run, const CriteriaSet& criteria);

}  // namespace qrun::report
