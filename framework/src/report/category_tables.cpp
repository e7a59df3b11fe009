// Grouped values (one group per category, e.g. the prompt suite's 12 categories): a table per
// variant, then one "Δ harm" table per directional value comparing variants category by category.
// When some grouped values are declared headline, only those are columns (in declaration order)
// and the others are named below the tables (they stay in results.json); else every grouped
// value is a column.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

struct Grouped {
  std::vector<std::string> groups;         // first appearance over variants in order
  std::vector<const ValueSpec*> columns;   // declaration order
  std::vector<const ValueSpec*> others;    // grouped values not shown as columns
};

Grouped grouped_of(const RunView& run, const std::string& label) {
  Grouped g;
  std::vector<std::string> names;
  for (const VariantRecord& v : run.variants())
    if (const MetricCell* m = v.metric(label))
      for (const MetricValue& x : m->result.values) {
        if (x.group.empty()) continue;
        if (std::find(g.groups.begin(), g.groups.end(), x.group) == g.groups.end()) g.groups.push_back(x.group);
        if (std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
      }
  std::vector<const ValueSpec*> all;
  for (const ValueSpec& s : run.spec(label).values)
    if (std::find(names.begin(), names.end(), s.name) != names.end()) all.push_back(&s);
  const bool any_headline = std::any_of(all.begin(), all.end(), [](const ValueSpec* s) { return s->is_headline; });
  for (const ValueSpec* s : all) (!any_headline || s->is_headline ? g.columns : g.others).push_back(s);
  return g;
}

const MetricValue* find(const VariantRecord& v, const std::string& label, const std::string& name, const std::string& group) {
  const MetricCell* m = v.metric(label);
  return m ? m->find(name, group) : nullptr;
}

// Values in % are compared in percentage points, the rest in their own unit.
std::string harm_text(double d, const ValueSpec& s) {
  if (s.unit == "%") return fmt_delta(d) + " pp";
  return fmt_signed_num(d) + (s.unit.empty() ? "" : " " + s.unit);
}

std::string heading(int level) { return std::string(static_cast<std::size_t>(level), '#') + " "; }

std::string per_variant_tables(const RunView& run, const std::string& label, const Grouped& g, int level) {
  std::string out;
  for (const VariantRecord& v : run.variants()) {
    if (!v.metric(label) || !v.metric(label)->has_groups()) continue;
    Table t{{"Category"}, {Align::left}, {}};
    for (const ValueSpec* s : g.columns) {
      t.headers.push_back(s->label);
      t.align.push_back(Align::right);
    }
    for (const std::string& grp : g.groups) {
      std::vector<std::string> r{grp};
      for (const ValueSpec* s : g.columns) {
        const MetricValue* x = find(v, label, s->name, grp);
        r.push_back(x ? value_cell(*x, *s) : "—");
      }
      t.row(std::move(r));
    }
    out += heading(level) + label + " per category: " + v.name + (v.baseline ? " (baseline)" : "") + "\n\n" + render_table(t) + "\n";
  }
  if (!g.others.empty()) {
    std::string list;
    for (const ValueSpec* s : g.others) list += (list.empty() ? "`" : ", `") + s->name + "`";
    out += "Also recorded per category in results.json (not tabulated here): " + list + ".\n\n";
  }
  return out;
}

// Δ harm of one directional value: each variant against the baseline when the baseline has the
// value, else (values only defined against the baseline, e.g. KL) each against the previous one.
std::string harm_table(const RunView& run, const std::string& label, const Grouped& g, const ValueSpec& s, int level) {
  const VariantRecord* base = run.baseline();
  std::vector<const VariantRecord*> having;
  for (const VariantRecord& v : run.variants())
    if (std::any_of(g.groups.begin(), g.groups.end(), [&](const std::string& grp) { return find(v, label, s.name, grp); }))
      having.push_back(&v);
  const bool base_has = base && std::find(having.begin(), having.end(), base) != having.end();
  std::vector<std::pair<const VariantRecord*, const VariantRecord*>> pairs;  // (variant, reference)
  if (base_has) {
    for (const VariantRecord* v : having)
      if (v != base) pairs.push_back({v, base});
  } else {
    for (std::size_t i = 1; i < having.size(); ++i) pairs.push_back({having[i], having[i - 1]});
  }
  if (pairs.empty()) return "";
  Table t{{"Category"}, {Align::left}, {}};
  for (const VariantRecord* v : having) {
    t.headers.push_back(v->name);
    t.align.push_back(Align::right);
  }
  for (const auto& [v, ref] : pairs) {
    t.headers.push_back("Δ harm " + v->name + " vs " + ref->name);
    t.align.push_back(Align::right);
  }
  for (const std::string& grp : g.groups) {
    std::vector<std::string> r{grp};
    for (const VariantRecord* v : having) {
      const MetricValue* x = find(*v, label, s.name, grp);
      r.push_back(x ? value_cell(*x, s) : "—");
    }
    for (const auto& [v, ref] : pairs) {
      const MetricValue* x = find(*v, label, s.name, grp);
      const MetricValue* y = find(*ref, label, s.name, grp);
      std::optional<double> d = x && y ? harm_delta(*x, *y, s) : std::nullopt;
      r.push_back(d ? harm_text(*d, s) : "—");
    }
    t.row(std::move(r));
  }
  return heading(level) + label + ": Δ harm per category, " + s.label + " (" + std::string(to_string(s.better)) +
         " is better)\n\n" + render_table(t) + "\n";
}

}  // namespace

std::optional<double> harm_delta(const MetricValue& v, const MetricValue& ref, const ValueSpec& s) {
  const double a = v.value, b = ref.value;
  if (!std::isfinite(a) || !std::isfinite(b)) return std::nullopt;
  // Harm: the change in the worse direction. lower-is-better: variant - ref; higher-is-better: ref - variant.
  if (s.better == Better::lower) return a - b;
  if (s.better == Better::higher) return b - a;
  return std::nullopt;
}

std::string render_category_tables(const RunView& run, const std::string& label, int level) {
  Grouped g = grouped_of(run, label);
  if (g.groups.empty()) return "";
  std::string out = per_variant_tables(run, label, g, level);
  bool wrote_note = false;
  for (const ValueSpec* s : g.columns) {
    if (s->better == Better::none) continue;
    std::string table = harm_table(run, label, g, *s, level);
    if (table.empty()) continue;
    if (!wrote_note) {
      out += "Δ harm is the change in the harmful direction (positive = worse): variant − reference for "
             "lower-is-better values, reference − variant for higher-is-better ones, in the value's unit (percentage points for %). "
             "The reference is the baseline, or the previous variant for values measured against the baseline "
             "(such as KL).\n\n";
      wrote_note = true;
    }
    out += table;
  }
  return out;
}

}  // namespace qrun::report
