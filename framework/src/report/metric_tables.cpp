// One section per metric: its overall values per variant with the change vs the baseline.
// Few values: one row per variant; many (e.g. KL statistics): one row per statistic.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {

constexpr std::size_t kMaxWideValues = 4;  // more overall values than this: transpose the table

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::vector<std::string> overall_names(const RunView& run, const std::string& label) {
  std::vector<std::string> names;
  for (const auto& v : run.variants)
    if (const auto* m = v.metric(label))
      for (const auto& x : m->values)
        if (x.group.empty() && std::find(names.begin(), names.end(), x.name) == names.end()) names.push_back(x.name);
  return names;
}

// Whether some non-baseline variant has a comparable baseline value for this name.
bool has_delta(const RunView& run, const std::string& label, const std::string& name) {
  const Variant* base = run.baseline();
  const MetricEntry* bm = base ? base->metric(label) : nullptr;
  const Value* bv = bm ? bm->find(name) : nullptr;
  if (!bv) return false;
  for (const auto& v : run.variants)
    if (!v.baseline)
      if (const auto* m = v.metric(label))
        if (const Value* x = m->find(name); x && !delta_cell(*x, *bv).empty()) return true;
  return false;
}

std::string delta_header(const std::string& name) {
  if (ends_with(name, "tokens_per_s")) return "slowdown (" + value_label(name) + ")";
  return "Δ " + value_label(name) + " vs baseline";
}

}  // namespace

std::string value_cell(const Value& v) {
  if (!std::isfinite(v.value)) return "n/a (" + fmt_num(v.value) + ")";
  std::string s = fmt_num(v.value);
  if (v.stderr_) s += " ± " + fmt_num(*v.stderr_);
  if (v.unit == "bytes" || v.unit == "B") return v.stderr_ ? s + " B" : fmt_bytes(v.value);
  if (!v.unit.empty()) s += " " + v.unit;
  return s;
}

std::string delta_cell(const Value& v, const Value& base) {
  if (!std::isfinite(v.value) || !std::isfinite(base.value)) return "";
  if (ends_with(v.name, "tokens_per_s")) {
    if (!(v.value > 0)) return "";
    return fmt_num(base.value / v.value) + "×";  // throughput: baseline / variant = times slower
  }
  if (v.unit == "bytes" || v.unit == "B") {
    if (!(v.value > 0) || !(base.value > 0)) return "";
    return v.value <= base.value ? fmt_num(base.value / v.value) + "× smaller"
                                 : fmt_num(v.value / base.value) + "× larger";
  }
  if (v.better == Direction::none) return "";
  if (v.unit == "%") return fmt_delta(v.value - base.value) + " pp";
  if (auto p = pct_change(v.value, base.value)) return fmt_delta(*p) + " %";
  return "";
}

std::string render_metric_section(const RunView& run, const std::string& label) {
  const MetricEntry* any = run.any_metric(label);
  if (!any) return "";
  std::string out = "## " + label + (any->use.empty() || any->use == label ? "" : " (`" + any->use + "`)") + "\n\n";
  std::vector<std::string> facts;
  if (any->params.contains("protocol") && any->params["protocol"].is_string())
    facts.push_back("Protocol: **" + any->params["protocol"].get<std::string>() + "**");
  if (!any->dataset.empty()) facts.push_back("dataset `" + any->dataset + "`");
  if (auto p = params_text(any->params); !p.empty()) facts.push_back("parameters: " + p);
  if (!facts.empty()) {
    std::string line;
    for (const auto& f : facts) line += (line.empty() ? "" : "; ") + f;
    out += line + ".\n\n";
  }

  const Variant* base = run.baseline();
  const MetricEntry* bm = base ? base->metric(label) : nullptr;
  std::vector<const Variant*> rows;
  for (const auto& v : run.variants)
    if (v.metric(label)) rows.push_back(&v);
  std::vector<std::string> names = overall_names(run, label);
  std::vector<std::string> missing;
  for (const auto& v : run.variants)
    if (!v.metric(label)) missing.push_back(v.name);

  if (!names.empty() && names.size() <= kMaxWideValues) {
    Table t{{"Variant"}, {Align::left}, {}};
    for (const auto& n : names) {
      t.headers.push_back(value_label(n));
      t.align.push_back(Align::right);
      if (has_delta(run, label, n)) {
        t.headers.push_back(delta_header(n));
        t.align.push_back(Align::right);
      }
    }
    t.headers.push_back("n");
    t.align.push_back(Align::right);
    for (const Variant* v : rows) {
      const MetricEntry* m = v->metric(label);
      std::vector<std::string> r{v->name};
      std::int64_t n = 0;
      for (const auto& name : names) {
        const Value* x = m->find(name);
        r.push_back(x ? value_cell(*x) : "—");
        if (x && n == 0) n = x->n;
        if (has_delta(run, label, name)) {
          const Value* bx = bm ? bm->find(name) : nullptr;
          std::string d = v->baseline ? "(baseline)" : (x && bx ? delta_cell(*x, *bx) : "");
          r.push_back(d.empty() ? "—" : d);
        }
      }
      r.push_back(std::to_string(n));
      t.row(std::move(r));
    }
    out += render_table(t) + "\n";
  } else if (!names.empty()) {
    Table t{{"Statistic"}, {Align::left}, {}};
    for (const Variant* v : rows) {
      t.headers.push_back(v->name);
      t.align.push_back(Align::right);
    }
    for (const auto& name : names) {
      std::vector<std::string> r{value_label(name)};
      for (const Variant* v : rows) {
        const Value* x = v->metric(label)->find(name);
        std::string cell = x ? value_cell(*x) : "—";
        const Value* bx = bm ? bm->find(name) : nullptr;
        if (x && bx && !v->baseline)
          if (auto d = delta_cell(*x, *bx); !d.empty()) cell += " (" + d + ")";
        r.push_back(cell);
      }
      t.row(std::move(r));
    }
    std::vector<std::string> nrow{"n"};
    for (const Variant* v : rows) {
      const auto& vals = v->metric(label)->values;
      auto it = std::find_if(vals.begin(), vals.end(), [](const Value& x) { return x.group.empty(); });
      nrow.push_back(it == vals.end() ? "—" : std::to_string(it->n));
    }
    t.row(std::move(nrow));
    out += render_table(t) + "\n";
    if (bm) out += "In parentheses: the change vs the baseline (" + base->name + ").\n\n";
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    out += "_No result for: " + list + "._\n\n";
  }
  out += render_category_tables(run, label);
  return out;
}

}  // namespace qrun::report
