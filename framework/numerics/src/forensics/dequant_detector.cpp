// The dequantization detector: candidates, per-layer evidence, the verdict
// (qrun/forensics/dequant_detector.hpp).
#include <qrun/forensics/dequant_detector.hpp>

#include <qrun/quant/codebook.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace qrun::forensics {
namespace {

constexpr std::int64_t kInt8MaxCode = 127;  // LLM.int8: codes in [-127, 127], value = code * SCB / 127

std::vector<double> four_bit_codes(quant::FourBit t) {
  const auto& book = quant::code_book(t);
  return normalised_code_book(std::vector<double>(book.begin(), book.end()));
}

// The units of `w` (float32, contiguous) for `c`: the full units [n, len] (evenly sampled down
// to max(min_units, max_values / unit length) when there are more) and, when every unit is
// kept, the partial last 4-bit block.
struct Units {
  at::Tensor full;
  at::Tensor tail;            // [1, len < blocksize] or undefined
  std::int64_t available = 0; // units the tensor has in all
};

Units units_of(const at::Tensor& w, const Candidate& c, const DetectorConfig& config) {
  Units u;
  if (c.scheme == GridScheme::int8) {
    u.full = w.dim() <= 1 ? w.reshape({1, -1}) : w.reshape({-1, w.size(-1)});
  } else {
    const at::Tensor flat = w.reshape({-1});
    const std::int64_t n_full = flat.numel() / c.blocksize;
    u.full = flat.slice(0, 0, n_full * c.blocksize).view({n_full, c.blocksize});
    if (flat.numel() % c.blocksize != 0) u.tail = flat.slice(0, n_full * c.blocksize).reshape({1, -1});
  }
  u.available = u.full.size(0) + (u.tail.defined() ? 1 : 0);
  const std::int64_t len = std::max<std::int64_t>(u.full.size(1), 1);
  const std::int64_t keep = config.max_values > 0 ? std::max(config.min_units, config.max_values / len) : 0;
  if (keep > 0 && u.available > keep) {
    // Evenly spaced full units: index floor(i * n / keep), i = 0 .. keep - 1.
    const at::Tensor idx = at::div(at::arange(keep, at::kLong) * u.full.size(0), keep, "floor");  // int64
    u.full = u.full.index_select(0, idx);
    u.tail = at::Tensor();
  }
  return u;
}

FitCounts fit_units(const Units& u, const Candidate& c, DType rounding, bool count_distinct) {
  const auto& codes = candidate_codes(c.scheme);
  FitCounts f = fit_code_book(u.full, codes, rounding, count_distinct);
  if (u.tail.defined()) f.add(fit_code_book(u.tail, codes, rounding, count_distinct));
  return f;
}

// Best: highest unit fit rate, then element fit rate, then the earlier candidate.
std::optional<std::size_t> best_candidate(const std::vector<CandidateEvidence>& tested) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < tested.size(); ++i) {
    if (!best) {
      best = i;
      continue;
    }
    const FitCounts& a = tested[i].observed;
    const FitCounts& b = tested[*best].observed;
    if (a.unit_rate() > b.unit_rate() || (a.unit_rate() == b.unit_rate() && a.element_rate() > b.element_rate()))
      best = i;
  }
  return best;
}

}  // namespace

std::string_view to_string(GridScheme s) {
  switch (s) {
    case GridScheme::int8: return "int8";
    case GridScheme::nf4: return "nf4";
    case GridScheme::fp4: return "fp4";
  }
  return "?";
}

std::string short_name(const Candidate& c) {
  if (c.scheme == GridScheme::int8) return "int8 rows";
  return std::string(to_string(c.scheme)) + " bs" + std::to_string(c.blocksize);
}

std::string describe(const Candidate& c) {
  switch (c.scheme) {
    case GridScheme::int8: return "LLM.int8 (row-wise, absmax/127 grid)";
    case GridScheme::nf4: return "NF4 (blocksize " + std::to_string(c.blocksize) + ")";
    case GridScheme::fp4: return "FP4 (blocksize " + std::to_string(c.blocksize) + ")";
  }
  return "?";
}

const std::vector<double>& candidate_codes(GridScheme s) {
  static const std::vector<double> int8 = [] {
    std::vector<double> k;
    for (std::int64_t i = -kInt8MaxCode; i <= kInt8MaxCode; ++i)
      k.push_back(static_cast<double>(i) / static_cast<double>(kInt8MaxCode));
    return k;
  }();
  static const std::vector<double> nf4 = four_bit_codes(quant::FourBit::nf4);
  static const std::vector<double> fp4 = four_bit_codes(quant::FourBit::fp4);
  return s == GridScheme::int8 ? int8 : s == GridScheme::nf4 ? nf4 : fp4;
}

std::vector<Candidate> default_candidates() {
  std::vector<Candidate> out = {{GridScheme::int8, 0}};
  for (GridScheme s : {GridScheme::nf4, GridScheme::fp4})
    for (std::int64_t bs = 32; bs <= 4096; bs *= 2) out.push_back({s, bs});
  return out;
}

Result<void> check_config(const DetectorConfig& config, const std::string& thing) {
  auto in_unit = [&](double v, const char* field) -> Result<void> {
    if (!(v >= 0.0 && v <= 1.0))
      return Error{thing + "." + field, std::to_string(v) + " is outside [0, 1]", "use a fraction in [0, 1]"};
    return {};
  };
  QRUN_TRY(in_unit(config.fit_threshold, "fit_threshold"));
  QRUN_TRY(in_unit(config.chance_ceiling, "chance_ceiling"));
  if (config.min_units < 1) return Error{thing + ".min_units", "must be at least 1", "use a positive count"};
  if (config.max_values < 0)
    return Error{thing + ".max_values", "is negative", "use 0 (every value) or a positive count"};
  if (config.candidates.empty()) return Error{thing + ".candidates", "is empty", "test at least one scheme"};
  return {};
}

Result<LayerEvidence> examine_weight(const std::string& name, const at::Tensor& weight, const DetectorConfig& config) {
  c10::InferenceMode guard;
  if (!weight.defined() || !weight.is_floating_point())
    return Error{name, "is not a floating-point tensor", "give the dequantized (dense) weight"};
  const at::Tensor w = weight.to(at::kCPU).to(at::kFloat).contiguous();
  if (!at::isfinite(w).all().item<bool>())
    return Error{name, "has NaN or Inf values", "check the checkpoint; a dequantized weight is always finite"};
  LayerEvidence ev;
  ev.name = name;
  ev.shape = weight.sizes().vec();
  ev.effective_dtype = effective_dtype(weight);
  // The reference a genuine layer would be: N(0, std(w)^2) of the same shape, rounded to the same format.
  const double std = w.numel() > 1 ? w.to(at::kDouble).std().item<double>() : 0.0;
  at::Generator gen = at::detail::createCPUGenerator(config.seed);
  const at::Tensor reference = (at::randn(w.sizes(), gen, at::TensorOptions().dtype(at::kFloat)) * (std > 0 ? std : 1.0))
                                   .to(to_scalar_type(ev.effective_dtype))
                                   .to(at::kFloat)
                                   .contiguous();
  for (const Candidate& c : config.candidates) {
    const Units u = units_of(w, c, config);
    if (u.available < config.min_units) continue;
    CandidateEvidence ce{c, fit_units(u, c, ev.effective_dtype, /*count_distinct=*/true), {}};
    if (ce.observed.units < config.min_units) continue;  // mostly all-zero units
    ce.chance = fit_units(units_of(reference, c, config), c, ev.effective_dtype, false);
    ev.tested.push_back(std::move(ce));
  }
  ev.best = best_candidate(ev.tested);
  if (const CandidateEvidence* b = ev.best_evidence())
    ev.flagged = b->observed.unit_rate() >= config.fit_threshold && b->chance.unit_rate() <= config.chance_ceiling;
  return ev;
}

std::string Verdict::text() const {
  const std::string of = std::to_string(flagged_layers) + " of " + std::to_string(tested_layers) +
                         " tested linear layers";
  if (!dequantized || !candidate) {
    if (tested_layers == 0) return "no evidence: no linear layer was large enough to test";
    return "no evidence of dequantization: 0 of " + std::to_string(tested_layers) +
           " tested linear layers fit a quantization grid";
  }
  std::string t = "dequantized " + describe(*candidate) + ": " + of;
  if (other_flagged_layers > 0) t += " (" + std::to_string(other_flagged_layers) + " more fit other schemes)";
  return t;
}

Verdict decide(const std::vector<LayerEvidence>& layers) {
  Verdict v;
  std::vector<std::pair<Candidate, std::int64_t>> counts;  // first-seen order: ties go to the earlier
  for (const LayerEvidence& l : layers) {
    if (l.tested.empty()) continue;
    ++v.tested_layers;
    if (!l.flagged) continue;
    const Candidate& c = l.best_evidence()->candidate;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == c; });
    if (it == counts.end()) counts.emplace_back(c, 1);
    else ++it->second;
  }
  std::int64_t total = 0;
  for (const auto& [c, n] : counts) {
    total += n;
    if (n > v.flagged_layers) {
      v.flagged_layers = n;
      v.candidate = c;
    }
  }
  v.dequantized = v.flagged_layers > 0;
  v.other_flagged_layers = total - v.flagged_layers;
  return v;
}

Result<DetectionReport> detect_dequantized(const Model& model, const DetectorConfig& config) {
  QRUN_TRY(check_config(config, "detector"));
  c10::InferenceMode guard;
  DetectionReport report;
  report.config = config;
  for (const std::string& name : model.linear_names()) {
    const LinearImpl& layer = model.linear(name);
    auto ev = examine_weight(name + ".weight", layer.weight(at::kFloat), config);
    if (!ev) return ev.error();
    ev->name = name;
    ev->kind = layer.kind();
    report.layers.push_back(std::move(*ev));
  }
  if (report.layers.empty())
    return Error{model.source().name, "has no linear layers", "give a decoder checkpoint with linear layers"};
  report.verdict = decide(report.layers);
  return report;
}

}  // namespace qrun::forensics
