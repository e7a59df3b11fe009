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
// The declaration of a value in either document (a's first).
const ValueSpec& spec_in(const RunView& a, const RunView& b, const std::string& label, const std::string& name) {
  if (a.any_metric(label)) return a.value_spec(label, name);
  return b.value_spec(label, name);
}

Result<void> check_shared_baseline(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  const std::string thing = "compare " + la + " vs " + lb;
  for (const auto& [r, l] : {std::pair{&a, &la}, std::pair{&b, &lb}})
    if (!r->baseline())
      return Error{*l, "has no variant marked as baseline", "compare results documents whose experiments declare a baseline"};
  const auto& ma = a.doc.provenance.model;
  const auto& mb = b.doc.provenance.model;
  if (ma && mb && ma->files != mb->files) {
    const auto& fa = ma->files;
    const auto& fb = mb->files;
    std::string which;
    for (const auto& [file, sha] : fa)
      if (!fb.count(file) || fb.at(file) != sha) which += (which.empty() ? "" : ", ") + file;
    for (const auto& [file, sha] : fb)
      if (!fa.count(file)) which += (which.empty() ? "" : ", ") + file;
    return Error{thing, "the baselines differ: the model files differ (" + which + ")",
                 "compare two runs of the same model checkpoint"};
  }
  const VariantRecord& ba = *a.baseline();
  const VariantRecord& bb = *b.baseline();
  for (const auto& [label, m] : ba.metrics) {
    const MetricCell* o = bb.metric(label);
    if (!o) continue;
    if (m.use != o->use || m.dataset != o->dataset || m.params != o->params)
      return Error{thing + " metric " + label,
                   "the baselines differ: the metric is configured differently (use, dataset or params)",
                   "run both experiments with the same [[metrics]] entry for \"" + label + "\""};
  }
  return {};
}

std::vector<std::string> union_variants(const RunView& a, const RunView& b) {
  std::vector<std::string> names{a.baseline()->name};
  for (const auto* r : {&a, &b})
    for (const auto& v : r->variants())
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
const VariantRecord* pick(const RunView& r, const std::string& name, bool baseline_slot) {
  return baseline_slot ? r.baseline() : r.variant(name);
}

std::string sources_table(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  auto known = [](const std::string& s) { return s.empty() ? std::string("unknown") : s; };
  Table t{{"", la, lb}, {Align::left, Align::left, Align::left}, {}};
  t.row({"Title", a.title, b.title});
  t.row({"Experiment file", a.doc.experiment_file.empty() ? "—" : "`" + a.doc.experiment_file + "`",
         b.doc.experiment_file.empty() ? "—" : "`" + b.doc.experiment_file + "`"});
  t.row({"Started", known(a.doc.provenance.started), known(b.doc.provenance.started)});
  t.row({"Device", a.doc.provenance.device.value_or("unknown"), b.doc.provenance.device.value_or("unknown")});
  t.row({"qrun", known(a.doc.provenance.qrun_version), known(b.doc.provenance.qrun_version)});
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
      const VariantRecord* va = pick(a, variants[i], i == 0);
      const VariantRecord* vb = pick(b, variants[i], i == 0);
      const MetricCell* ma = va ? va->metric(label) : nullptr;
      const MetricCell* mb = vb ? vb->metric(label) : nullptr;
      std::vector<std::string> names;
      for (const MetricCell* m : {ma, mb})
        if (m)
          for (const auto& x : m->result.values)
            if (x.group.empty() && std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
      for (const auto& n : names) {
        const ValueSpec& s = spec_in(a, b, label, n);
        const MetricValue* xa = ma ? ma->find(n) : nullptr;
        const MetricValue* xb = mb ? mb->find(n) : nullptr;
        std::string d = xa && xb ? delta_cell(*xb, *xa, s) : "";
        auto h = xa && xb ? harm_delta(*xb, *xa, s) : std::nullopt;
        std::string unit = s.unit.empty() ? "" : s.unit == "%" ? " pp" : " " + s.unit;
        t.row({variants[i] + (i == 0 ? " (baseline)" : ""), s.label, xa ? value_cell(*xa, s) : "—",
               xb ? value_cell(*xb, s) : "—", d.empty() ? "—" : d, h ? fmt_signed_num(*h) + unit : "—"});
        // Each side's change vs its own baseline, for directional values of non-baseline variants.
        if (i == 0) continue;
        const MetricCell* bma = a.baseline()->metric(label);
        const MetricCell* bmb = b.baseline()->metric(label);
        const MetricValue* ba = bma ? bma->find(n) : nullptr;
        const MetricValue* bb = bmb ? bmb->find(n) : nullptr;
        std::string da = xa && ba ? delta_cell(*xa, *ba, s) : "";
        std::string db = xb && bb ? delta_cell(*xb, *bb, s) : "";
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
      for (const auto& v : r->variants())
        if (const auto* m = v.metric(label))
          for (const auto& x : m->result.values) {
            if (x.group.empty() || r->value_spec(label, x.name).better == Better::none) continue;
            if (std::find(groups.begin(), groups.end(), x.group) == groups.end()) groups.push_back(x.group);
            if (std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
          }
    for (const auto& n : names) {
      Table t{{"Category"}, {Align::left}, {}};
      const ValueSpec& s = spec_in(a, b, label, n);
      std::vector<std::pair<const MetricCell*, const MetricCell*>> cols;
      for (std::size_t i = 0; i < variants.size(); ++i) {
        const VariantRecord* va = pick(a, variants[i], i == 0);
        const VariantRecord* vb = pick(b, variants[i], i == 0);
        const MetricCell* ma = va ? va->metric(label) : nullptr;
        const MetricCell* mb = vb ? vb->metric(label) : nullptr;
        auto has = [&](const MetricCell* m) {
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
          const MetricValue* xa = ma->find(n, g);
          const MetricValue* xb = mb->find(n, g);
          auto h = xa && xb ? harm_delta(*xb, *xa, s) : std::nullopt;
          r.push_back(xa ? value_cell(*xa, s) : "—");
          r.push_back(xb ? value_cell(*xb, s) : "—");
          r.push_back(h ? fmt_signed_num(*h) : "—");
        }
        t.row(std::move(r));
      }
      out += "### " + label + ": " + s.label + " per category (Δ harm = " + lb + " vs " + la + ", positive = " +
             lb + " worse)\n\n" + render_table(t) + "\n";
    }
  }
  return out;
}

// For every value declared with a change-vs-baseline chart: its change vs each side's own
// baseline, per non-baseline variant, A and B as two series.
std::vector<ChartFile> comparison_charts(const RunView& a, const RunView& b, const std::string& la, const std::string& lb) {
  std::vector<ChartFile> out;
  auto variants = union_variants(a, b);
  for (const auto& label : union_labels(a, b)) {
    const MetricSpec& spec = a.any_metric(label) ? a.spec(label) : b.spec(label);
    for (const ValueSpec& s : spec.values) {
      if (s.chart != Chart::change_vs_baseline || s.compare == Compare::none) continue;
      const std::string unit = delta_unit(s);
      BarChart c{(s.description.empty() ? s.label : s.description) + " change vs baseline (" + label + "): " + la + " vs " + lb,
                 "Δ " + s.label + " vs own baseline (" + unit + ")", {}, {{la, {}}, {lb, {}}}};
      bool any = false;
      for (std::size_t i = 1; i < variants.size(); ++i) {
        c.categories.push_back(variants[i]);
        for (int side = 0; side < 2; ++side) {
          const RunView& r = side == 0 ? a : b;
          const VariantRecord* v = r.variant(variants[i]);
          const MetricCell* m = v ? v->metric(label) : nullptr;
          const MetricCell* bm = r.baseline()->metric(label);
          const MetricValue* x = m ? m->find(s.name) : nullptr;
          const MetricValue* bx = bm ? bm->find(s.name) : nullptr;
          auto p = x && bx ? delta_value(*x, *bx, s) : std::nullopt;
          any = any || p.has_value();
          c.series[side].points.push_back({p, !p ? "n/a" : unit == "×" ? fmt_num(*p) + "×" : fmt_delta(*p) + " " + unit});
        }
      }
      if (any) out.push_back({"compare_" + slug(label) + "_" + slug(s.name) + "_delta.svg", c});
    }
  }
  return out;
}

}  // namespace

Result<std::vector<ReportFile>> render_comparison(const Results& a, const Results& b, const std::string& label_a,
                                                  const std::string& label_b) {
  if (label_a.empty() || label_b.empty() || label_a == label_b)
    return Error{"compare --labels", "needs two different, non-empty labels", "pass e.g. --labels undefended,defended"};
  const RunView ra = view_of(a);
  const RunView rb = view_of(b);
  QRUN_TRY(check_shared_baseline(ra, rb, label_a, label_b));
  auto ca = criteria_from(ra);
  if (!ca) return ca.error().within(label_a);
  auto cb = criteria_from(rb);
  if (!cb) return cb.error().within(label_b);

  std::string md = "# Comparison: " + label_a + " vs " + label_b + "\n\n";
  for (const auto& [r, l] : {std::pair{&ra, &label_a}, std::pair{&rb, &label_b}})
    if (auto banner = render_incomplete_banner(*r); !banner.empty()) md += "**" + *l + ":**\n\n" + banner;
  md += sources_table(ra, rb, label_a, label_b);
  md += "Both documents share a baseline: the same model files and the same configuration of every metric both "
        "baselines ran. \"Δ " + label_b + " vs " + label_a + "\" uses the report's Δ rules (% change, pp for "
        "percentages, slowdown for throughput); \"Δ harm\" is the change in the harmful direction (positive = " +
        label_b + " is worse).\n\n";
  md += render_verdict_section(ra, *ca, "## Criteria: " + label_a);
  md += render_verdict_section(rb, *cb, "## Criteria: " + label_b);
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
