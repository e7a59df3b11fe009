// One section per metric: its overall values per variant with the change vs the baseline.
// Few values: one row per variant; many (e.g. KL statistics): one row per statistic. Labels,
// units and the comparison rule come from each value's declaration.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

constexpr std::size_t kMaxWideValues = 4;  // more overall values than this: transpose the table

// The declared values with an overall record in some variant, in declaration order.
std::vector<const ValueSpec*> overall_specs(const RunView& run, const std::string& label) {
  std::vector<const ValueSpec*> out;
  for (const ValueSpec& s : run.spec(label).values)
    for (const VariantRecord& v : run.variants())
      if (const MetricCell* m = v.metric(label); m && m->find(s.name)) {
        out.push_back(&s);
        break;
      }
  return out;
}

// Whether some non-baseline variant has a comparable baseline value for this name.
bool has_delta(const RunView& run, const std::string& label, const ValueSpec& s) {
  const VariantRecord* base = run.baseline();
  const MetricCell* bm = base ? base->metric(label) : nullptr;
  const MetricValue* bv = bm ? bm->find(s.name) : nullptr;
  if (!bv) return false;
  for (const VariantRecord& v : run.variants())
    if (!v.baseline)
      if (const MetricCell* m = v.metric(label))
        if (const MetricValue* x = m->find(s.name); x && delta_value(*x, *bv, s)) return true;
  return false;
}

std::string delta_header(const ValueSpec& s) {
  if (s.compare == Compare::slowdown) return "slowdown (" + s.label + ")";
  return "Δ " + s.label + " vs baseline";
}

std::string facts_line(const MetricCell& any) {
  std::vector<std::string> facts;
  if (any.params.contains("protocol") && any.params["protocol"].is_string())
    facts.push_back("Protocol: **" + any.params["protocol"].get<std::string>() + "**");
  if (any.dataset) facts.push_back("dataset `" + *any.dataset + "`");
  if (auto p = params_text(any.params); !p.empty()) facts.push_back("parameters: " + p);
  std::string line;
  for (const auto& f : facts) line += (line.empty() ? "" : "; ") + f;
  return line.empty() ? "" : line + ".\n\n";
}

// What the n column means when the values of a row summarise different counts.
std::string n_note(const RunView& run, const std::string& label, const std::vector<const ValueSpec*>& specs,
                   const std::vector<const VariantRecord*>& rows) {
  for (const VariantRecord* v : rows) {
    const MetricCell* m = v->metric(label);
    const MetricValue* first = m->find(specs.front()->name);
    std::string others;
    for (const ValueSpec* s : specs)
      if (const MetricValue* x = m->find(s->name); x && first && x->n != first->n)
        others += (others.empty() ? "" : ", ") + s->label + " n=" + std::to_string(x->n) +
                  (s->counts.empty() ? "" : " " + s->counts);
    if (others.empty() || !first) continue;
    const ValueSpec& f = *specs.front();
    return "The n column is n of " + f.label + (f.counts.empty() ? "" : ", " + f.counts) +
           "; other values summarise other counts (" + v->name + ": " + others + ").\n\n";
  }
  return "";
}

std::string wide_table(const RunView& run, const std::string& label, const std::vector<const ValueSpec*>& specs,
                       const std::vector<const VariantRecord*>& rows) {
  const VariantRecord* base = run.baseline();
  const MetricCell* bm = base ? base->metric(label) : nullptr;
  const std::string note = n_note(run, label, specs, rows);
  Table t{{"Variant"}, {Align::left}, {}};
  for (const ValueSpec* s : specs) {
    t.headers.push_back(s->label);
    t.align.push_back(Align::right);
    if (has_delta(run, label, *s)) {
      t.headers.push_back(delta_header(*s));
      t.align.push_back(Align::right);
    }
  }
  t.headers.push_back(note.empty() ? "n" : "n (" + specs.front()->label + ")");
  t.align.push_back(Align::right);
  for (const VariantRecord* v : rows) {
    const MetricCell* m = v->metric(label);
    std::vector<std::string> r{v->name};
    std::int64_t n = 0;
    for (const ValueSpec* s : specs) {
      const MetricValue* x = m->find(s->name);
      r.push_back(x ? value_cell(*x, *s) : "—");
      if (x && n == 0) n = x->n;
      if (has_delta(run, label, *s)) {
        const MetricValue* bx = bm ? bm->find(s->name) : nullptr;
        std::string d = v->baseline ? "(baseline)" : (x && bx ? delta_cell(*x, *bx, *s) : "");
        r.push_back(d.empty() ? "—" : d);
      }
    }
    r.push_back(std::to_string(n));
    t.row(std::move(r));
  }
  return render_table(t) + "\n" + note;
}

std::string tall_table(const RunView& run, const std::string& label, const std::vector<const ValueSpec*>& specs,
                       const std::vector<const VariantRecord*>& rows) {
  const VariantRecord* base = run.baseline();
  const MetricCell* bm = base ? base->metric(label) : nullptr;
  Table t{{"Statistic"}, {Align::left}, {}};
  for (const VariantRecord* v : rows) {
    t.headers.push_back(v->name);
    t.align.push_back(Align::right);
  }
  for (const ValueSpec* s : specs) {
    std::vector<std::string> r{s->label};
    for (const VariantRecord* v : rows) {
      const MetricValue* x = v->metric(label)->find(s->name);
      std::string cell = x ? value_cell(*x, *s) : "—";
      const MetricValue* bx = bm ? bm->find(s->name) : nullptr;
      if (x && bx && !v->baseline)
        if (auto d = delta_cell(*x, *bx, *s); !d.empty()) cell += " (" + d + ")";
      r.push_back(cell);
    }
    t.row(std::move(r));
  }
  std::vector<std::string> nrow{"n"};
  for (const VariantRecord* v : rows) {
    const auto& vals = v->metric(label)->result.values;
    auto it = std::find_if(vals.begin(), vals.end(), [](const MetricValue& x) { return x.group.empty(); });
    nrow.push_back(it == vals.end() ? "—" : std::to_string(it->n));
  }
  t.row(std::move(nrow));
  std::string out = render_table(t) + "\n";
  if (bm) out += "In parentheses: the change vs the baseline (" + base->name + ").\n\n";
  return out;
}

}  // namespace

std::string value_cell(const MetricValue& v, const ValueSpec& s) {
  if (!std::isfinite(v.value)) return "n/a (" + fmt_num(v.value) + ")";
  std::string out = fmt_num(v.value);
  if (v.stderr_) out += " ± " + fmt_num(*v.stderr_);
  if (s.unit == "bytes" || s.unit == "B") return v.stderr_ ? out + " B" : fmt_bytes(v.value);
  if (!s.unit.empty()) out += " " + s.unit;
  return out;
}

std::optional<double> delta_value(const MetricValue& v, const MetricValue& base, const ValueSpec& s) {
  if (!std::isfinite(v.value) || !std::isfinite(base.value)) return std::nullopt;
  switch (s.compare) {
    case Compare::none: return std::nullopt;
    case Compare::slowdown:
      if (!(v.value > 0)) return std::nullopt;
      return base.value / v.value;  // throughput: baseline / variant = times slower
    case Compare::size_ratio:
      if (!(v.value > 0) || !(base.value > 0)) return std::nullopt;
      return base.value / v.value;  // > 1: smaller than the baseline
    case Compare::change:
      if (s.unit == "%") return v.value - base.value;  // percentage points
      return pct_change(v.value, base.value);
  }
  return std::nullopt;
}

std::string delta_unit(const ValueSpec& s) {
  if (s.compare == Compare::slowdown || s.compare == Compare::size_ratio) return "×";
  return s.unit == "%" ? "pp" : "%";
}

std::string delta_cell(const MetricValue& v, const MetricValue& base, const ValueSpec& s) {
  auto d = delta_value(v, base, s);
  if (!d) return "";
  if (s.compare == Compare::slowdown) return fmt_num(*d) + "×";
  if (s.compare == Compare::size_ratio)
    return *d >= 1 ? fmt_num(*d) + "× smaller" : fmt_num(v.value / base.value) + "× larger";
  return fmt_delta(*d) + " " + delta_unit(s);
}

std::string render_metric_section(const RunView& run, const std::string& label, int level) {
  const MetricCell* any = run.any_metric(label);
  if (!any) return "";
  std::string out = std::string(static_cast<std::size_t>(level), '#') + " " + label + (any->use.empty() || any->use == label ? "" : " (`" + any->use + "`)") + "\n\n";
  out += facts_line(*any);
  std::vector<const VariantRecord*> rows;
  std::vector<std::string> missing;
  for (const VariantRecord& v : run.variants()) {
    if (v.metric(label)) rows.push_back(&v);
    else missing.push_back(v.name);
  }
  const std::vector<const ValueSpec*> specs = overall_specs(run, label);
  if (!specs.empty() && specs.size() <= kMaxWideValues) out += wide_table(run, label, specs, rows);
  else if (!specs.empty()) out += tall_table(run, label, specs, rows);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    out += "_No result for: " + list + "._\n\n";
  }
  out += render_category_tables(run, label, level + 1);
  return out;
}

}  // namespace qrun::report
