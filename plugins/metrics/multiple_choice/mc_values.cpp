// multiple_choice values and details (mc_values.hpp).
#include "mc_values.hpp"

#include "../refusal/generation.hpp"
#include "../refusal/rate_values.hpp"

#include <map>

namespace qrun::mc {

using behaviour::add_rate;
using behaviour::count_value;
using behaviour::rate_specs;

Scored decide(std::vector<double> lls, const std::vector<double>& lengths) {
  Scored s;
  s.lls = std::move(lls);
  for (std::size_t i = 1; i < s.lls.size(); ++i) {
    if (s.lls[i] > s.lls[static_cast<std::size_t>(s.pred)]) s.pred = static_cast<std::int64_t>(i);
    if (s.lls[i] / lengths[i] > s.lls[static_cast<std::size_t>(s.pred_norm)] / lengths[static_cast<std::size_t>(s.pred_norm)])
      s.pred_norm = static_cast<std::int64_t>(i);
  }
  return s;
}

double choice_length(const std::string& choice, const std::string& norm) {
  if (norm == "bytes") return static_cast<double>(choice.size());
  std::int64_t n = 0;
  for (unsigned char c : choice) n += (c & 0xC0) != 0x80;  // count lead bytes: code points
  return static_cast<double>(n);
}

std::vector<ValueSpec> mc_value_specs() {
  const std::string items = "items";
  std::vector<ValueSpec> v;
  auto append = [&](const std::vector<ValueSpec>& xs) { v.insert(v.end(), xs.begin(), xs.end()); };
  append(rate_specs(value("acc", "acc", "%", Better::higher)
                        .doc("Items whose highest summed log-likelihood option is right (lm-eval acc)")
                        .counting(items)
                        .headline()
                        .charted(Chart::per_variant)
                        .criterion("max_mc_accuracy_drop_pp", Rule::drop_pp_at_most,
                                   "Multiple-choice accuracy (acc) lost vs the baseline, percentage points (overall)")));
  append(rate_specs(value("acc_norm", "acc_norm", "%", Better::higher)
                        .doc("Items whose highest length-normalised log-likelihood option is right (lm-eval acc_norm)")
                        .counting(items)
                        .headline()));
  append(rate_specs(value("flip_rate", "flips", "%", Better::lower)
                        .doc("Items right under the baseline and wrong under the variant, or the reverse")
                        .counting(items)
                        .headline()
                        .compared(Compare::none)
                        .charted(Chart::per_variant)
                        .criterion("max_flip_rate_pct", Rule::at_most,
                                   "Share of items whose correctness flipped vs the baseline (overall)")));
  v.push_back(value("right_to_wrong", "right→wrong", "items", Better::lower)
                  .doc("Items the baseline answered right and the variant wrong")
                  .compared(Compare::none));
  v.push_back(value("wrong_to_right", "wrong→right", "items").doc("Items the baseline answered wrong and the variant right"));
  v.push_back(value("flip_p", "McNemar p", "").doc("McNemar's exact two-sided p of right→wrong vs wrong→right"));
  v.push_back(value("agreement", "agreement", "%", Better::higher)
                  .doc("Items where the variant chose the baseline's option")
                  .counting(items)
                  .headline()
                  .compared(Compare::none));
  return v;
}

namespace {

std::int64_t pick(const Scored& s, const std::string& flips_on) { return flips_on == "acc_norm" ? s.pred_norm : s.pred; }

struct Tally {
  std::int64_t n = 0, acc = 0, acc_norm = 0, r2w = 0, w2r = 0, agree = 0;
};

void add_group(std::vector<MetricValue>& out, const Tally& t, const std::string& group) {
  add_rate(out, "acc", t.acc, t.n, group);
  add_rate(out, "acc_norm", t.acc_norm, t.n, group);
  add_rate(out, "flip_rate", t.r2w + t.w2r, t.n, group);
  MetricValue a = count_value("agreement", 0, t.n, group);
  a.value = 100.0 * static_cast<double>(t.agree) / static_cast<double>(t.n);
  out.push_back(a);
}

}  // namespace

std::vector<MetricValue> mc_values(const std::vector<Item>& items, const std::vector<Scored>& var,
                                   const std::vector<Scored>& base, const std::string& flips_on) {
  Tally all;
  std::map<std::string, Tally> by_subject;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const bool right = pick(var[i], flips_on) == items[i].gold;
    const bool base_right = pick(base[i], flips_on) == items[i].gold;
    for (Tally* t : {&all, &by_subject[items[i].subject]}) {
      ++t->n;
      t->acc += var[i].pred == items[i].gold;
      t->acc_norm += var[i].pred_norm == items[i].gold;
      t->r2w += base_right && !right;
      t->w2r += !base_right && right;
      t->agree += pick(var[i], flips_on) == pick(base[i], flips_on);
    }
  }
  std::vector<MetricValue> out;
  add_group(out, all, "");
  out.push_back(count_value("right_to_wrong", all.r2w, all.n));
  out.push_back(count_value("wrong_to_right", all.w2r, all.n));
  std::vector<bool> b, v;
  for (std::size_t i = 0; i < items.size(); ++i) {
    b.push_back(pick(base[i], flips_on) == items[i].gold);
    v.push_back(pick(var[i], flips_on) == items[i].gold);
  }
  MetricValue p = count_value("flip_p", 0, all.n);
  p.value = behaviour::paired_flips(b, v).p_value;
  out.push_back(p);
  if (by_subject.size() > 1)
    for (const auto& [subject, t] : by_subject) add_group(out, t, subject);
  return out;
}

nlohmann::json mc_details(const std::vector<Item>& items, const std::vector<Scored>& var, const std::vector<Scored>& base,
                          const std::string& flips_on, std::int64_t examples, std::int64_t example_chars) {
  const auto cut = static_cast<std::size_t>(example_chars);
  nlohmann::json per_item = nlohmann::json::array(), flips = nlohmann::json::array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    per_item.push_back({{"id", it.id}, {"subject", it.subject}, {"gold", it.gold}, {"pred", var[i].pred},
                        {"pred_norm", var[i].pred_norm}, {"loglikelihoods", var[i].lls}});
    const std::int64_t pv = pick(var[i], flips_on), pb = pick(base[i], flips_on);
    if ((pv == it.gold) == (pb == it.gold) || static_cast<std::int64_t>(flips.size()) >= examples) continue;
    nlohmann::json choices = nlohmann::json::array();
    for (const std::string& c : it.choices) choices.push_back(behaviour::truncate_utf8(c, cut));
    const auto side = [&](std::int64_t pick) {
      const std::string letter(1, static_cast<char>('A' + pick));
      const std::string text = pick >= 0 && pick < static_cast<std::int64_t>(it.choices.size())
                                   ? behaviour::truncate_utf8(it.choices[static_cast<std::size_t>(pick)], cut) : "";
      return ChangedOutcome{letter + (pick == it.gold ? " (right)" : " (wrong)"), text};
    };
    const ChangedExample e{it.id, it.subject, behaviour::truncate_utf8(it.context, cut),
                           pb == it.gold ? "right → wrong" : "wrong → right", side(pb), side(pv)};
    nlohmann::json j = to_json(e);
    j["choices"] = choices;
    j["gold"] = it.gold;
    j["baseline_choice"] = pb;
    j["variant_choice"] = pv;
    j["direction"] = pb == it.gold ? "right_to_wrong" : "wrong_to_right";
    j["baseline_loglikelihoods"] = base[i].lls;
    j["variant_loglikelihoods"] = var[i].lls;
    flips.push_back(std::move(j));
  }
  return {{"items", per_item}, {std::string(kChangedExamplesKey), flips}, {"flips_on", flips_on}};
}

}  // namespace qrun::mc
