// The charts a run gets: one per declared value whose declaration asks for one (Chart) and that
// has data, in metric order then declaration order, then the storage size chart; and their
// Markdown: a linked SVG plus the same data as text bars.
#include "report/format.hpp"
#include "report/sections.hpp"
#include "report/text_bars.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

std::string title_of(const ValueSpec& s) { return s.description.empty() ? s.label : s.description; }

// "prefill tokens/s" stays as is; "mean KL" becomes "mean KL (nats)".
std::string axis_of(const ValueSpec& s, const std::string& unit) {
  if (unit.empty() || s.label.find(unit) != std::string::npos) return s.label;
  return s.label + " (" + unit + ")";
}

ChartPoint point(const MetricValue* x, const ValueSpec& s) {
  if (!x || !std::isfinite(x->value)) return {std::nullopt, "n/a"};
  if (s.unit == "bytes") return {x->value / 1e6, fmt_bytes(x->value)};
  return {x->value, fmt_num(x->value)};
}

// The overall value, one bar per variant.
std::optional<ChartFile> per_variant(const RunView& run, const std::string& label, const ValueSpec& s) {
  const bool bytes = s.unit == "bytes";
  BarChart c{title_of(s) + " (" + label + ")", bytes ? s.label + " (MB, 1 MB = 10^6 B)" : axis_of(s, s.unit), {},
             {{s.label, {}}}};
  bool any = false;
  for (const VariantRecord& v : run.variants()) {
    const MetricCell* m = v.metric(label);
    const MetricValue* x = m ? m->find(s.name) : nullptr;
    c.categories.push_back(v.name);
    c.series[0].points.push_back(point(x, s));
    any = any || x;
  }
  if (!any) return std::nullopt;
  return ChartFile{"chart_" + slug(label) + "_" + slug(s.name) + ".svg", c, label};
}

// The overall value's change vs the baseline (the declaration's Compare rule), per non-baseline variant.
std::optional<ChartFile> change_vs_baseline(const RunView& run, const std::string& label, const ValueSpec& s) {
  const VariantRecord* base = run.baseline();
  const MetricCell* bm = base ? base->metric(label) : nullptr;
  const MetricValue* bv = bm ? bm->find(s.name) : nullptr;
  if (!bv || s.compare == Compare::none) return std::nullopt;
  const std::string unit = delta_unit(s);
  BarChart c{title_of(s) + " change vs " + base->name + " (" + label + ")", "Δ " + s.label + " vs baseline (" + unit + ")",
             {}, {{"Δ " + s.label, {}}}};
  for (const VariantRecord& v : run.variants()) {
    if (v.baseline) continue;
    const MetricCell* m = v.metric(label);
    const MetricValue* x = m ? m->find(s.name) : nullptr;
    c.categories.push_back(v.name);
    auto d = x ? delta_value(*x, *bv, s) : std::nullopt;
    std::string text = !d ? "n/a" : unit == "×" ? fmt_num(*d) + "×" : fmt_delta(*d) + " " + unit;
    c.series[0].points.push_back({d, text});
  }
  if (c.categories.empty()) return std::nullopt;
  return ChartFile{"chart_" + slug(label) + "_" + slug(s.name) + "_delta.svg", c, label};
}

// The value per group, one series per variant (not the baseline of a lockstep metric, whose
// values are against itself).
std::optional<ChartFile> per_group(const RunView& run, const std::string& label, const ValueSpec& s) {
  const bool lockstep = run.spec(label).compares_to_baseline;
  BarChart c{title_of(s) + " per category (" + label + ")", axis_of(s, s.unit), {}, {}};
  for (const VariantRecord& v : run.variants())
    if (const MetricCell* m = v.metric(label))
      for (const MetricValue& x : m->result.values)
        if (x.name == s.name && !x.group.empty() &&
            std::find(c.categories.begin(), c.categories.end(), x.group) == c.categories.end())
          c.categories.push_back(x.group);
  if (c.categories.empty()) return std::nullopt;
  for (const VariantRecord& v : run.variants()) {
    const MetricCell* m = v.metric(label);
    if (!m || (lockstep && v.baseline)) continue;
    ChartSeries series{v.name, {}};
    bool any = false;
    for (const std::string& g : c.categories) {
      const MetricValue* x = m->find(s.name, g);
      series.points.push_back(point(x, s));
      any = any || x;
    }
    if (any) c.series.push_back(std::move(series));
  }
  if (c.series.empty()) return std::nullopt;
  return ChartFile{"chart_" + slug(label) + "_" + slug(s.name) + "_by_category.svg", c, label};
}

void size_chart(const RunView& run, std::vector<ChartFile>& out) {
  BarChart c{"Total model size", "total bytes (MB, 1 MB = 10^6 B)", {}, {{"total size", {}}}};
  bool any = false;
  for (const VariantRecord& v : run.variants()) {
    c.categories.push_back(v.name);
    if (v.storage) {
      const double b = static_cast<double>(v.storage->total_bytes);
      c.series[0].points.push_back({b / 1e6, fmt_bytes(b)});
      any = true;
    } else {
      c.series[0].points.push_back({std::nullopt, "n/a"});
    }
  }
  if (any) out.push_back({"chart_size.svg", c, ""});
}

}  // namespace

std::vector<ChartFile> build_charts(const RunView& run) {
  std::vector<ChartFile> out;
  for (const std::string& label : run.metric_labels)
    for (const ValueSpec& s : run.spec(label).values) {
      std::optional<ChartFile> c;
      if (s.chart == Chart::per_variant) c = per_variant(run, label, s);
      else if (s.chart == Chart::change_vs_baseline) c = change_vs_baseline(run, label, s);
      else if (s.chart == Chart::per_group) c = per_group(run, label, s);
      if (c) {
        c->label = label;
        out.push_back(std::move(*c));
      }
    }
  size_chart(run, out);
  return out;
}

std::string chart_text_bars(const BarChart& chart) {
  std::vector<TextBar> bars;
  for (std::size_t c = 0; c < chart.categories.size(); ++c)
    for (const auto& s : chart.series) {
      if (c >= s.points.size()) continue;
      const ChartPoint& p = s.points[c];
      std::string label = chart.series.size() > 1 ? chart.categories[c] + " / " + s.name : chart.categories[c];
      bars.push_back({label, p.value ? *p.value : std::nan(""), p.text});
    }
  return render_text_bars(bars);
}

std::string render_chart(const ChartFile& c, int level) {
  return std::string(static_cast<std::size_t>(level), '#') + " " + c.chart.title + "\n\n" + "![" + c.chart.title +
         "](" + c.file + ")\n\n" + "```text\n" + chart_text_bars(c.chart) + "```\n\n";
}

std::string render_charts_section(const std::vector<ChartFile>& charts) {
  if (charts.empty()) return "";
  std::string out = "## Charts\n\n";
  for (const auto& c : charts) out += render_chart(c, 3);
  return out;
}

}  // namespace qrun::report
