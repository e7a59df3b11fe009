// Grouped values (one group per category, e.g. the prompt suite's 12 categories): a table per
// variant, then one "Δ harm" table per directional value comparing variants category by category.
// A metric that records the prompt suite's headline values per category (success, time, accuracy,
// agreement, KL, ...) gets only those as columns; its other per-category values (the full KL
// statistics) are named below the tables and stay in results.json. Other metrics show every value.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

// Per-category columns, in this order, when a metric has any of them.
const std::vector<std::string> kHeadlineNames = {"success_rate", "gen_seconds", "tokens_per_s", "accuracy",
                                                 "agreement",    "kl_mean",     "same_top_p"};

struct Grouped {
  std::vector<std::string> groups;  // first appearance over variants in order
  std::vector<std::string> names;   // the columns
  std::vector<std::string> others;  // grouped values not shown as columns
};

Grouped grouped_of(const RunView& run, const std::string& label) {
  Grouped g;
  for (const auto& v : run.variants)
    if (const auto* m = v.metric(label))
      for (const auto& x : m->values) {
        if (x.group.empty()) continue;
        if (std::find(g.groups.begin(), g.groups.end(), x.group) == g.groups.end()) g.groups.push_back(x.group);
        if (std::find(g.names.begin(), g.names.end(), x.name) == g.names.end()) g.names.push_back(x.name);
      }
  std::vector<std::string> headline;
  for (const auto& n : kHeadlineNames)
    if (std::find(g.names.begin(), g.names.end(), n) != g.names.end()) headline.push_back(n);
  if (!headline.empty()) {
    for (const auto& n : g.names)
      if (std::find(headline.begin(), headline.end(), n) == headline.end()) g.others.push_back(n);
    g.names = std::move(headline);
  }
  return g;
}

const Value* find(const Variant& v, const std::string& label, const std::string& name, const std::string& group) {
  const MetricEntry* m = v.metric(label);
  return m ? m->find(name, group) : nullptr;
}

// Values in % are compared in percentage points, the rest in their own unit.
std::string harm_text(double d, const Value& v) {
  if (v.unit == "%") return fmt_delta(d) + " pp";
  return fmt_signed_num(d) + (v.unit.empty() ? "" : " " + v.unit);
}

}  // namespace

std::optional<double> harm_delta(const Value& v, const Value& ref) {
  const double a = v.value, b = ref.value;
  if (!std::isfinite(a) || !std::isfinite(b)) return std::nullopt;
  // Harm: the change in the worse direction. lower-is-better: variant - ref; higher-is-better: ref - variant.
  if (v.better == Direction::lower) return a - b;
  if (v.better == Direction::higher) return b - a;
  return std::nullopt;
}

std::string render_category_tables(const RunView& run, const std::string& label) {
  Grouped g = grouped_of(run, label);
  if (g.groups.empty()) return "";
  std::string out;

  for (const auto& v : run.variants) {
    if (!v.metric(label) || !v.metric(label)->has_groups()) continue;
    Table t{{"Category"}, {Align::left}, {}};
    for (const auto& n : g.names) {
      t.headers.push_back(value_label(n));
      t.align.push_back(Align::right);
    }
    for (const auto& grp : g.groups) {
      std::vector<std::string> r{grp};
      for (const auto& n : g.names) {
        const Value* x = find(v, label, n, grp);
        r.push_back(x ? value_cell(*x) : "—");
      }
      t.row(std::move(r));
    }
    out += "### " + label + " per category: " + v.name + (v.baseline ? " (baseline)" : "") + "\n\n" + render_table(t) + "\n";
  }
  if (!g.others.empty()) {
    std::string list;
    for (const auto& n : g.others) list += (list.empty() ? "`" : ", `") + n + "`";
    out += "Also recorded per category in results.json (not tabulated here): " + list + ".\n\n";
  }

  // Δ harm: per directional value, each variant against the baseline when the baseline has the
  // value, else (values only defined against the baseline, e.g. KL) each variant against the previous one.
  const Variant* base = run.baseline();
  bool wrote_note = false;
  for (const auto& n : g.names) {
    Direction dir = Direction::none;
    for (const auto& v : run.variants)
      for (const auto& grp : g.groups)
        if (const Value* x = find(v, label, n, grp); x && dir == Direction::none) dir = x->better;
    if (dir == Direction::none) continue;

    std::vector<const Variant*> having;
    for (const auto& v : run.variants)
      if (std::any_of(g.groups.begin(), g.groups.end(), [&](const std::string& grp) { return find(v, label, n, grp); }))
        having.push_back(&v);
    bool base_has = base && std::find(having.begin(), having.end(), base) != having.end();
    std::vector<std::pair<const Variant*, const Variant*>> pairs;  // (variant, reference)
    if (base_has) {
      for (const Variant* v : having)
        if (v != base) pairs.push_back({v, base});
    } else {
      for (std::size_t i = 1; i < having.size(); ++i) pairs.push_back({having[i], having[i - 1]});
    }
    if (pairs.empty()) continue;

    Table t{{"Category"}, {Align::left}, {}};
    for (const Variant* v : having) {
      t.headers.push_back(v->name);
      t.align.push_back(Align::right);
    }
    for (const auto& [v, ref] : pairs) {
      t.headers.push_back("Δ harm " + v->name + " vs " + ref->name);
      t.align.push_back(Align::right);
    }
    for (const auto& grp : g.groups) {
      std::vector<std::string> r{grp};
      for (const Variant* v : having) {
        const Value* x = find(*v, label, n, grp);
        r.push_back(x ? value_cell(*x) : "—");
      }
      for (const auto& [v, ref] : pairs) {
        const Value* x = find(*v, label, n, grp);
        const Value* y = find(*ref, label, n, grp);
        std::optional<double> d = x && y ? harm_delta(*x, *y) : std::nullopt;
        r.push_back(d ? harm_text(*d, *x) : "—");
      }
      t.row(std::move(r));
    }
    if (!wrote_note) {
      out += "Δ harm is the change in the harmful direction (positive = worse): variant − reference for "
             "lower-is-better values, reference − variant for higher-is-better ones, in the value's unit (percentage points for %). "
             "The reference is the baseline, or the previous variant for values measured against the baseline "
             "(such as KL).\n\n";
      wrote_note = true;
    }
    out += "### " + label + ": Δ harm per category, " + value_label(n) + " (" + std::string(to_string(dir)) +
           " is better)\n\n" + render_table(t) + "\n";
  }
  return out;
}

}  // namespace qrun::report
