// The harm report: report.md plus SVG charts, generated from results.json alone (so
// `qrun report results.json` reproduces exactly what the run wrote).
#pragma once

#include "results/results.hpp"

#include <qrun/error.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace qrun {

struct ReportFile {
  std::string name;     // relative to the report's folder: "report.md", "chart_ppl.svg", ...
  std::string content;
};

// Renders the report for one results document (complete or partial: a partial one says so at
// the top; a reduced one too). Deterministic: the same document gives the same bytes. Every
// value is shown through its declaration (results' "declarations"), so no plugin is needed.
Result<std::vector<ReportFile>> render_report(const Results& results);

// Renders a side-by-side report of two results documents sharing a baseline (e.g. undefended vs
// defended). Error when the baselines differ (model hash or baseline metrics' configuration).
Result<std::vector<ReportFile>> render_comparison(const Results& a, const Results& b, const std::string& label_a,
                                                  const std::string& label_b);

// Writes the files into `dir` atomically, each through a temp file and rename; report.md last.
Result<void> write_report_files(const std::filesystem::path& dir, const std::vector<ReportFile>& files);

}  // namespace qrun
