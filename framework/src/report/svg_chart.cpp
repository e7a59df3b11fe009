#include "report/svg_chart.hpp"

#include "report/format.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

// Layout in SVG user units (px). Fixed numbers so every chart has the same look.
constexpr double kWidth = 760;
constexpr double kTitleY = 24;
constexpr double kLegendY = 46;
constexpr double kPlotTop = 64;
constexpr double kBarHeight = 14;
constexpr double kBarGap = 3;
constexpr double kGroupGap = 12;
constexpr double kValueColumn = 120;  // right-hand column for the value texts
constexpr double kCharWidth = 6.6;    // approximate advance of a 12 px sans-serif glyph
constexpr double kMinLabelColumn = 90;
constexpr double kMaxLabelColumn = 250;
constexpr double kAxisHeight = 44;
constexpr int kTargetTicks = 4;
// Colour-blind-safe palette (Okabe & Ito 2008), cycled per series.
const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"};

std::string n1(double x) { return fmt_fixed(x, 1); }

// 1, 2 or 5 times a power of ten, at least raw.
double nice_step(double raw) {
  if (!(raw > 0)) return 1;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

}  // namespace

std::string render_svg_bar_chart(const BarChart& chart) {
  double lo = 0, hi = 0;
  std::size_t max_label = 0;
  for (const auto& s : chart.series)
    for (const auto& p : s.points)
      if (p.value && std::isfinite(*p.value)) {
        lo = std::min(lo, *p.value);
        hi = std::max(hi, *p.value);
      }
  for (const auto& c : chart.categories) max_label = std::max(max_label, display_width(c));
  if (hi == lo) hi = lo + 1;  // all zero (or empty): an axis of one unit
  double step = nice_step((hi - lo) / kTargetTicks);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;

  double label_col = std::clamp(max_label * kCharWidth + 16, kMinLabelColumn, kMaxLabelColumn);
  double x0 = label_col, x1 = kWidth - kValueColumn;
  auto xpos = [&](double v) { return x0 + (v - lo) / (hi - lo) * (x1 - x0); };
  std::size_t n_series = std::max<std::size_t>(chart.series.size(), 1);
  double group_h = n_series * (kBarHeight + kBarGap) - kBarGap;
  double plot_h = chart.categories.size() * (group_h + kGroupGap);
  double height = kPlotTop + plot_h + kAxisHeight;

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + n1(kWidth) + "\" height=\"" + n1(height) +
       "\" viewBox=\"0 0 " + n1(kWidth) + " " + n1(height) + "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n";
  o += "<title>" + xml_escape(chart.title) + "</title>\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + n1(kWidth) + "\" height=\"" + n1(height) + "\" fill=\"#ffffff\"/>\n";
  o += "<text x=\"" + n1(kWidth / 2) + "\" y=\"" + n1(kTitleY) + "\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" +
       xml_escape(chart.title) + "</text>\n";

  // Legend: one swatch per series, laid out left to right.
  double lx = x0;
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const char* colour = kPalette[s % std::size(kPalette)];
    o += "<rect x=\"" + n1(lx) + "\" y=\"" + n1(kLegendY - 10) + "\" width=\"12\" height=\"12\" fill=\"" + colour + "\"/>\n";
    o += "<text x=\"" + n1(lx + 16) + "\" y=\"" + n1(kLegendY) + "\">" + xml_escape(chart.series[s].name) + "</text>\n";
    lx += 16 + display_width(chart.series[s].name) * kCharWidth + 18;
  }

  // Grid lines and tick labels.
  double axis_y = kPlotTop + plot_h;
  const long ticks = std::lround((hi - lo) / step);
  for (long k = 0; k <= ticks; ++k) {
    double t = lo + k * step;
    double tv = std::fabs(t) < step * 1e-9 ? 0.0 : t;
    double x = xpos(tv);
    o += "<line x1=\"" + n1(x) + "\" y1=\"" + n1(kPlotTop - 4) + "\" x2=\"" + n1(x) + "\" y2=\"" + n1(axis_y) +
         "\" stroke=\"" + (tv == 0 ? "#333333" : "#dddddd") + "\" stroke-width=\"1\"/>\n";
    o += "<text x=\"" + n1(x) + "\" y=\"" + n1(axis_y + 16) + "\" text-anchor=\"middle\" fill=\"#444444\">" +
         xml_escape(fmt_short(tv)) + "</text>\n";
  }
  o += "<text x=\"" + n1((x0 + x1) / 2) + "\" y=\"" + n1(axis_y + 36) + "\" text-anchor=\"middle\">" +
       xml_escape(chart.axis_label) + "</text>\n";

  // Bars.
  double y = kPlotTop;
  for (std::size_t c = 0; c < chart.categories.size(); ++c) {
    o += "<text x=\"" + n1(x0 - 8) + "\" y=\"" + n1(y + group_h / 2 + 4) + "\" text-anchor=\"end\">" +
         xml_escape(chart.categories[c]) + "</text>\n";
    for (std::size_t s = 0; s < chart.series.size(); ++s) {
      double by = y + s * (kBarHeight + kBarGap);
      const ChartPoint* p = c < chart.series[s].points.size() ? &chart.series[s].points[c] : nullptr;
      if (p && p->value && std::isfinite(*p->value)) {
        double a = xpos(0), b = xpos(*p->value);
        double w = std::max(std::fabs(b - a), 0.5);  // a zero still shows as a hairline
        o += "<rect x=\"" + n1(std::min(a, b)) + "\" y=\"" + n1(by) + "\" width=\"" + n1(w) + "\" height=\"" +
             n1(kBarHeight) + "\" fill=\"" + kPalette[s % std::size(kPalette)] + "\"><title>" +
             xml_escape(chart.series[s].name + " / " + chart.categories[c] + ": " + p->text) + "</title></rect>\n";
      }
      if (p)
        o += "<text x=\"" + n1(x1 + 8) + "\" y=\"" + n1(by + kBarHeight - 3) + "\" fill=\"#222222\">" +
             xml_escape(p->text) + "</text>\n";
    }
    y += group_h + kGroupGap;
  }
  o += "</svg>\n";
  return o;
}

}  // namespace qrun::report
