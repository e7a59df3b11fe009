// Which charts a run gets (by the value names present) and their Markdown: a linked SVG plus the
// same data as text bars.
#include "report/format.hpp"
#include "report/sections.hpp"
#include "report/text_bars.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ΔPPL in % per non-baseline variant, one chart per metric with an overall "ppl".
void ppl_delta_charts(const RunView& run, std::vector<ChartFile>& out) {
  const Variant* base = run.baseline();
  if (!base) return;
  for (const auto& label : run.metric_labels) {
    const MetricEntry* bm = base->metric(label);
    const Value* bv = bm ? bm->find("ppl") : nullptr;
    if (!bv) continue;
    BarChart c{"Perplexity change vs " + base->name + " (" + label + ")", "Δ PPL vs baseline (%)", {}, {{"Δ PPL", {}}}};
    for (const auto& v : run.variants) {
      if (v.baseline) continue;
      const MetricEntry* m = v.metric(label);
      const Value* x = m ? m->find("ppl") : nullptr;
      c.categories.push_back(v.name);
      auto p = x ? pct_change(x->value, bv->value) : std::nullopt;
      c.series[0].points.push_back({p, p ? fmt_delta(*p) + " %" : "n/a"});
    }
    if (!c.categories.empty()) out.push_back({"chart_" + slug(label) + "_ppl_delta.svg", c});
  }
}

// Mean KL per category, one series per variant that has it.
void kl_category_charts(const RunView& run, std::vector<ChartFile>& out) {
  for (const auto& label : run.metric_labels) {
    BarChart c{"Mean KL per category (" + label + ")", "mean KL(P_base ‖ P_variant) (nats)", {}, {}};
    for (const auto& v : run.variants)
      if (const auto* m = v.metric(label))
        for (const auto& x : m->values)
          if (x.name == "kl_mean" && !x.group.empty() &&
              std::find(c.categories.begin(), c.categories.end(), x.group) == c.categories.end())
            c.categories.push_back(x.group);
    if (c.categories.empty()) continue;
    for (const auto& v : run.variants) {
      const MetricEntry* m = v.metric(label);
      if (!m || v.baseline) continue;
      ChartSeries s{v.name, {}};
      for (const auto& g : c.categories) {
        const Value* x = m->find("kl_mean", g);
        s.points.push_back({x ? std::optional<double>(x->value) : std::nullopt, x ? fmt_num(x->value) : "n/a"});
      }
      c.series.push_back(std::move(s));
    }
    if (!c.series.empty()) out.push_back({"chart_" + slug(label) + "_kl_by_category.svg", c});
  }
}

void size_chart(const RunView& run, std::vector<ChartFile>& out) {
  BarChart c{"Total model size", "total bytes (MB, 1 MB = 10^6 B)", {}, {{"total size", {}}}};
  bool any = false;
  for (const auto& v : run.variants) {
    auto b = v.storage_value("total_bytes");
    c.categories.push_back(v.name);
    c.series[0].points.push_back({b ? std::optional<double>(*b / 1e6) : std::nullopt, b ? fmt_bytes(*b) : "n/a"});
    any = any || b.has_value();
  }
  if (any) out.push_back({"chart_size.svg", c});
}

// One chart per overall throughput value ("prefill_tokens_per_s", "decode_tokens_per_s", ...).
void speed_charts(const RunView& run, std::vector<ChartFile>& out) {
  for (const auto& label : run.metric_labels) {
    std::vector<std::string> names;
    for (const auto& v : run.variants)
      if (const auto* m = v.metric(label))
        for (const auto& x : m->values)
          if (x.group.empty() && ends_with(x.name, "tokens_per_s") && std::find(names.begin(), names.end(), x.name) == names.end())
            names.push_back(x.name);
    for (const auto& name : names) {
      BarChart c{value_label(name) + " (" + label + ")", value_label(name), {}, {{value_label(name), {}}}};
      for (const auto& v : run.variants) {
        const MetricEntry* m = v.metric(label);
        const Value* x = m ? m->find(name) : nullptr;
        c.categories.push_back(v.name);
        c.series[0].points.push_back({x ? std::optional<double>(x->value) : std::nullopt, x ? fmt_num(x->value) : "n/a"});
      }
      out.push_back({"chart_" + slug(label) + "_" + slug(name) + ".svg", c});
    }
  }
}

}  // namespace

std::vector<ChartFile> build_charts(const RunView& run) {
  std::vector<ChartFile> out;
  ppl_delta_charts(run, out);
  kl_category_charts(run, out);
  size_chart(run, out);
  speed_charts(run, out);
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

std::string render_charts_section(const std::vector<ChartFile>& charts) {
  if (charts.empty()) return "";
  std::string out = "## Charts\n\n";
  for (const auto& c : charts) {
    out += "### " + c.chart.title + "\n\n";
    out += "![" + c.chart.title + "](" + c.file + ")\n\n";
    out += "```text\n" + chart_text_bars(c.chart) + "```\n\n";
  }
  return out;
}

}  // namespace qrun::report
