// Horizontal grouped bar charts as standalone SVG 1.1 documents (no scripts, no external
// resources), so they render the same in browsers, GitHub and headless Chromium.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qrun::report {

struct ChartPoint {
  std::optional<double> value;  // nullopt: no bar, the text says why (e.g. "n/a")
  std::string text;             // printed in the value column
};

struct ChartSeries {
  std::string name;               // legend entry (a variant)
  std::vector<ChartPoint> points; // one per category
};

struct BarChart {
  std::string title;
  std::string axis_label;               // e.g. "Δ PPL vs baseline (%)"
  std::vector<std::string> categories;  // one bar group each
  std::vector<ChartSeries> series;
};

// Deterministic: the same chart gives the same bytes. Non-finite values draw no bar.
std::string render_svg_bar_chart(const BarChart& chart);

}  // namespace qrun::report
