// render_comparison: two results documents side by side (e.g. undefended vs defended), allowed
// only when they share a baseline (same model files, same baseline metric configuration).
#include "report/report.hpp"

#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <algorithm>

namespace qrun {

namespace {

using namespace report;
using nlohmann::json;

json model_files(const RunView& r) {
  if (r.provenance.contains("model") && r.provenance["model"].is_object() && r.provenance["model"].contains("files"))
    return r.provenance["model"]["files"];
  return json();
}

Result<void> check_shared_baseline(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  const std::string thing = "compare " + la + " vs " + lb;
  for (const auto& [r, l] : {std::pair{&a, &la}, std::pair{&b, &lb}})
    if (!r->baseline())
      return Error{*l, "has no variant marked as baseline", "compare results documents whose experiments declare a baseline"};
  json fa = model_files(a), fb = model_files(b);
  if (fa.is_object() && fb.is_object() && fa != fb) {
    std::string which;
    for (const auto& [file, sha] : fa.items())
      if (!fb.contains(file) || fb[file] != sha) which += (which.empty() ? "" : ", ") + file;
    for (const auto& [file, sha] : fb.items())
      if (!fa.contains(file)) which += (which.empty() ? "" : ", ") + file;
    return Error{thing, "the baselines differ: the model files differ (" + which + ")",
                 "compare two runs of the same model checkpoint"};
  }
  const Variant& ba = *a.baseline();
  const Variant& bb = *b.baseline();
  for (const auto& m : ba.metrics) {
    const MetricEntry* o = bb.metric(m.label);
    if (!o) continue;
    if (m.use != o->use || m.dataset != o->dataset || m.params != o->params)
      return Error{thing + " metric " + m.label,
                   "the baselines differ: the metric is configured differently (use, dataset or params)",
                   "run both experiments with the same [[metrics]] entry for \"" + m.label + "\""};
  }
  return {};
}

std::vector<std::string> union_variants(const RunView& a, const RunView& b) {
  std::vector<std::string> names{a.baseline()->name};
  for (const auto* r : {&a, &b})
    for (const auto& v : r->variants)
      if (!v.baseline && std::find(names.begin(), names.end(), v.name) == names.end()) names.push_back(v.name);
  return names;
}

std::vector<std::string> union_labels(const RunView& a, const RunView& b) {
  std::vector<std::string> labels = a.metric_labels;
  for (const auto& l : b.metric_labels)
    if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
  return labels;
}

// The variant of that name, or the document's baseline when `name` is the shared baseline's slot.
const Variant* pick(const RunView& r, const std::string& name, bool baseline_slot) {
  return baseline_slot ? r.baseline() : r.variant(name);
}

std::string sources_table(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  auto prov = [](const RunView& r, const char* key) {
    return r.provenance.contains(key) && r.provenance[key].is_string() ? r.provenance[key].get<std::string>() : "unknown";
  };
  Table t{{"", la, lb}, {Align::left, Align::left, Align::left}, {}};
  t.row({"Title", a.title, b.title});
  t.row({"Experiment file", a.experiment_file.empty() ? "—" : "`" + a.experiment_file + "`",
         b.experiment_file.empty() ? "—" : "`" + b.experiment_file + "`"});
  t.row({"Started", prov(a, "started"), prov(b, "started")});
  t.row({"Device", prov(a, "device"), prov(b, "device")});
  t.row({"qrun", prov(a, "qrun_version"), prov(b, "qrun_version")});
  t.row({"Complete", a.complete ? "yes" : "**no**", b.complete ? "yes" : "**no**"});
  t.row({"Baseline", a.baseline()->name, b.baseline()->name});
  return render_table(t) + "\n";
}

std::string overall_tables(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  std::string out;
  auto variants = union_variants(a, b);
  for (const auto& label : union_labels(a, b)) {
    Table t{{"Variant", "Value", la, lb, "Δ " + lb + " vs " + la, "Δ harm " + lb + " vs " + la},
            {Align::left, Align::left, Align::right, Align::right, Align::right, Align::right}, {}};
    for (std::size_t i = 0; i < variants.size(); ++i) {
      const Variant* va = pick(a, variants[i], i == 0);
      const Variant* vb = pick(b, variants[i], i == 0);
      const MetricEntry* ma = va ? va->metric(label) : nullptr;
      const MetricEntry* mb = vb ? vb->metric(label) : nullptr;
      std::vector<std::string> names;
      for (const MetricEntry* m : {ma, mb})
        if (m)
          for (const auto& x : m->values)
            if (x.group.empty() && std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
      for (const auto& n : names) {
        const Value* xa = ma ? ma->find(n) : nullptr;
        const Value* xb = mb ? mb->find(n) : nullptr;
        std::string d = xa && xb ? delta_cell(*xb, *xa) : "";
        auto h = xa && xb ? harm_delta(*xb, *xa) : std::nullopt;
        std::string unit = !xb || xb->unit.empty() ? "" : xb->unit == "%" ? " pp" : " " + xb->unit;
        t.row({variants[i] + (i == 0 ? " (baseline)" : ""), value_label(n), xa ? value_cell(*xa) : "—",
               xb ? value_cell(*xb) : "—", d.empty() ? "—" : d, h ? fmt_signed_num(*h) + unit : "—"});
        // Each side's change vs its own baseline, for directional values of non-baseline variants.
        if (i == 0) continue;
        const MetricEntry* bma = a.baseline()->metric(label);
        const MetricEntry* bmb = b.baseline()->metric(label);
        const Value* ba = bma ? bma->find(n) : nullptr;
        const Value* bb = bmb ? bmb->find(n) : nullptr;
        std::string da = xa && ba ? delta_cell(*xa, *ba) : "";
        std::string db = xb && bb ? delta_cell(*xb, *bb) : "";
        if (!da.empty() || !db.empty())
          t.row({variants[i], "  vs own baseline", da.empty() ? "—" : da, db.empty() ? "—" : db, "", ""});
      }
    }
    if (!t.rows.empty()) out += "### " + label + "\n\n" + render_table(t) + "\n";
  }
  return out;
}

std::string category_tables(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  std::string out;
  auto variants = union_variants(a, b);
  for (const auto& label : union_labels(a, b)) {
    std::vector<std::string> groups, names;
    for (const auto* r : {&a, &b})
      for (const auto& v : r->variants)
        if (const auto* m = v.metric(label))
          for (const auto& x : m->values) {
            if (x.group.empty() || x.better == Direction::none) continue;
            if (std::find(groups.begin(), groups.end(), x.group) == groups.end()) groups.push_back(x.group);
            if (std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
          }
    for (const auto& n : names) {
      Table t{{"Category"}, {Align::left}, {}};
      std::vector<std::pair<const MetricEntry*, const MetricEntry*>> cols;
      for (std::size_t i = 0; i < variants.size(); ++i) {
        const Variant* va = pick(a, variants[i], i == 0);
        const Variant* vb = pick(b, variants[i], i == 0);
        const MetricEntry* ma = va ? va->metric(label) : nullptr;
        const MetricEntry* mb = vb ? vb->metric(label) : nullptr;
        auto has = [&](const MetricEntry* m) {
          return m && std::any_of(groups.begin(), groups.end(), [&](const std::string& g) { return m->find(n, g); });
        };
        if (!has(ma) || !has(mb)) continue;
        cols.push_back({ma, mb});
        for (const auto& h : {variants[i] + " " + la, variants[i] + " " + lb, "Δ harm " + variants[i]}) {
          t.headers.push_back(h);
          t.align.push_back(Align::right);
        }
      }
      if (cols.empty()) continue;
      for (const auto& g : groups) {
        std::vector<std::string> r{g};
        for (const auto& [ma, mb] : cols) {
          const Value* xa = ma->find(n, g);
          const Value* xb = mb->find(n, g);
          auto h = xa && xb ? harm_delta(*xb, *xa) : std::nullopt;
          r.push_back(xa ? value_cell(*xa) : "—");
          r.push_back(xb ? value_cell(*xb) : "—");
          r.push_back(h ? fmt_signed_num(*h) : "—");
        }
        t.row(std::move(r));
      }
      out += "### " + label + ": " + value_label(n) + " per category (Δ harm = " + lb + " vs " + la + ", positive = " +
             lb + " worse)\n\n" + render_table(t) + "\n";
    }
  }
  return out;
}

// ΔPPL vs each side's own baseline, per non-baseline variant, A and B as two series.
std::vector<ChartFile> comparison_charts(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  std::vector<ChartFile> out;
  auto variants = union_variants(a, b);
  for (const auto& label : union_labels(a, b)) {
    BarChart c{"Perplexity change vs baseline (" + label + "): " + la + " vs " + lb, "Δ PPL vs own baseline (%)", {}, {{la, {}}, {lb, {}}}};
    bool any = false;
    for (std::size_t i = 1; i < variants.size(); ++i) {
      c.categories.push_back(variants[i]);
      for (int s = 0; s < 2; ++s) {
        const RunView& r = s == 0 ? a : b;
        const Variant* v = r.variant(variants[i]);
        const MetricEntry* m = v ? v->metric(label) : nullptr;
        const MetricEntry* bm = r.baseline()->metric(label);
        const Value* x = m ? m->find("ppl") : nullptr;
        const Value* bx = bm ? bm->find("ppl") : nullptr;
        auto p = x && bx ? pct_change(x->value, bx->value) : std::nullopt;
        any = any || p.has_value();
        c.series[s].points.push_back({p, p ? fmt_delta(*p) + " %" : "n/a"});
      }
    }
    if (any) out.push_back({"compare_" + slug(label) + "_ppl_delta.svg", c});
  }
  return out;
}

}  // namespace

Result<std::vector<ReportFile>> render_comparison(const json& a, const json& b, const std::string& label_a,
                                                  const std::string& label_b) {
  if (label_a.empty() || label_b.empty() || label_a == label_b)
    return Error{"compare --labels", "needs two different, non-empty labels", "pass e.g. --labels undefended,defended"};
  auto va = view_results(a, label_a);
  if (!va) return va.error();
  auto vb = view_results(b, label_b);
  if (!vb) return vb.error();
  QRUN_TRY(check_shared_baseline(*va, *vb, label_a, label_b));
  const RunView& ra = *va;
  const RunView& rb = *vb;

  std::string md = "# Comparison: " + label_a + " vs " + label_b + "\n\n";
  for (const auto& [r, l] : {std::pair{&ra, &label_a}, std::pair{&rb, &label_b}})
    if (auto banner = render_incomplete_banner(*r); !banner.empty()) md += "**" + *l + ":**\n\n" + banner;
  md += sources_table(ra, rb, label_a, label_b);
  md += "Both documents share a baseline: the same model files and the same configuration of every metric both "
        "baselines ran. \"Δ " + label_b + " vs " + label_a + "\" uses the report's Δ rules (% change, pp for "
        "percentages, slowdown for throughput); \"Δ harm\" is the change in the harmful direction (positive = " +
        label_b + " is worse).\n\n";
  md += render_verdict_section(ra, criteria_from(ra), "## Criteria: " + label_a);
  md += render_verdict_section(rb, criteria_from(rb), "## Criteria: " + label_b);
  md += "## Side by side\n\n" + overall_tables(ra, rb, label_a, label_b);
  if (auto cats = category_tables(ra, rb, label_a, label_b); !cats.empty()) md += "## Per category\n\n" + cats;
  auto charts = comparison_charts(ra, rb, label_a, label_b);
  md += render_charts_section(charts);
  md += "---\n\nGenerated by `qrun compare` from two results.json files; each side's method is in its own report "
        "(`qrun report`).\n";

  std::vector<ReportFile> files;
  for (const auto& c : charts) files.push_back({c.file, render_svg_bar_chart(c.chart)});
  files.push_back({"report.md", std::move(md)});
  return files;
}

}  // namespace qrun
