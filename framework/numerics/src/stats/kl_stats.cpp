#include <qrun/kl_stats.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace qrun {
namespace {

constexpr const char* kThing = "kl_stats";

// One float64 temporary of at most 2^23 elements (64 MiB) per chunk of rows.
constexpr std::int64_t kChunkElements = std::int64_t{1} << 23;

struct Quantile {
  const char* key;    // MetricValue suffix ("p99.9") and details key
  const char* label;  // text label ("99.9%")
  double q;
};
// llama.cpp's KL table: Maximum, 99.9, 99.0, 95.0, 90.0, Median, 10.0, 5.0, 1.0, 0.1, Minimum.
constexpr Quantile kKlQuantiles[] = {
    {"max", "Maximum", 1.0}, {"p99.9", "99.9%", 0.999}, {"p99", "99.0%", 0.99}, {"p95", "95.0%", 0.95},
    {"p90", "90.0%", 0.90},  {"median", "Median", 0.5}, {"p10", "10.0%", 0.10}, {"p5", " 5.0%", 0.05},
    {"p1", " 1.0%", 0.01},   {"p0.1", " 0.1%", 0.001},  {"min", "Minimum", 0.0}};
// llama.cpp's Δp table adds 75 % and 25 %.
constexpr Quantile kDpQuantiles[] = {
    {"max", "Maximum", 1.0}, {"p99.9", "99.9%", 0.999}, {"p99", "99.0%", 0.99}, {"p95", "95.0%", 0.95},
    {"p90", "90.0%", 0.90},  {"p75", "75.0%", 0.75},    {"median", "Median", 0.5}, {"p25", "25.0%", 0.25},
    {"p10", "10.0%", 0.10},  {"p5", " 5.0%", 0.05},     {"p1", " 1.0%", 0.01},     {"p0.1", " 0.1%", 0.001},
    {"min", "Minimum", 0.0}};

std::vector<double> sorted_copy(const std::vector<double>& v) {
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  return s;
}

std::string not_enough(std::int64_t n) {
  return "n/a (n=" + std::to_string(n) + " < " + std::to_string(KlStats::kMinTokensForPercentiles) + ")";
}

// The first row of a [N, V] tensor holding a NaN or ±inf, or -1.
std::int64_t first_non_finite_row(const at::Tensor& x) {
  const at::Tensor bad_rows = at::logical_not(at::isfinite(x)).any(1);
  if (!bad_rows.any().item<bool>()) return -1;
  return bad_rows.nonzero().select(1, 0)[0].item<std::int64_t>();
}

// CPU fast path for contiguous float32 [N, V] rows: one pass over both rows per token computing
// KL = Σ_v exp(lb)·(lb − lv) (difference,
// exp, product and sums in float64 over 8 lanes, as the float64 path: KL near 0 is a cancellation of first-order
// terms; float32 exp or sums lost ~1e-3 relative at KL 5e-7, measured against the float64 path) and both argmaxes (lowest index among equal maxima, as
// torch.argmax). Replaces ~10 full-vocabulary passes with float64 temporaries (measured 8x the
// perplexity cell on tiny-qwen2). Returns false when a row's KL is not finite: the caller then runs
// the finiteness checks and the float64 path for exact error messages.
bool fused_kl_cpu(const at::Tensor& base, const at::Tensor& var, double* kl, std::int64_t* same) {
  const std::int64_t n = base.size(0), vocab = base.size(1);
  const float* pb = base.data_ptr<float>();
  const float* pv = var.data_ptr<float>();
  std::vector<char> top_equal(static_cast<std::size_t>(n), 0);
  std::vector<char> finite(static_cast<std::size_t>(n), 1);
  at::parallel_for(0, n, 1, [&](std::int64_t r0, std::int64_t r1) {
    at::Tensor e = at::empty({vocab}, at::kDouble);  // exp(lb) of one row in float64 (ATen's vectorised exp)
    const double* pe = e.data_ptr<double>();
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* lb = pb + r * vocab;
      const float* lv = pv + r * vocab;
      e.copy_(base.select(0, r));
      e.exp_();
      double acc = 0.0;
      for (std::int64_t s = 0; s < vocab; s += 512) {
        const std::int64_t m = std::min<std::int64_t>(512, vocab - s);
        const double* eb = pe + s;
        const float *b = lb + s, *v = lv + s;
        double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::int64_t j = 0;
        for (; j + 8 <= m; j += 8)
          for (int l = 0; l < 8; ++l) lane[l] += eb[j + l] * (static_cast<double>(b[j + l]) - static_cast<double>(v[j + l]));
        for (; j < m; ++j) lane[0] += eb[j] * (static_cast<double>(b[j]) - static_cast<double>(v[j]));
        for (double x : lane) acc += x;
      }
      std::int64_t ab = 0, av = 0;
      for (std::int64_t j = 1; j < vocab; ++j) {
        if (lb[j] > lb[ab]) ab = j;
        if (lv[j] > lv[av]) av = j;
      }
      kl[r] = acc;
      top_equal[static_cast<std::size_t>(r)] = ab == av;
      finite[static_cast<std::size_t>(r)] = std::isfinite(acc);
    }
  });
  *same = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    if (!finite[static_cast<std::size_t>(r)]) return false;
    *same += top_equal[static_cast<std::size_t>(r)];
  }
  return true;
}

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

Result<void> KlStats::add(const at::Tensor& base, const at::Tensor& var, const at::Tensor& targets) {
  c10::InferenceMode guard;
  if (!base.defined() || !var.defined() || !targets.defined())
    return Error{kThing, "an input tensor is undefined", "pass baseline log-probs, variant log-probs and target ids"};
  if (base.dim() != 2 || var.dim() != 2)
    return Error{kThing, "log-probs must be [N, V], got baseline " + shape_of(base) + " and variant " + shape_of(var),
                 "pass one row per scored position"};
  if (base.scalar_type() != at::kFloat || var.scalar_type() != at::kFloat)
    return Error{kThing, "log-probs must be float32", "upcast logits to float32 before log_softmax"};
  if (base.sizes() != var.sizes())
    return Error{kThing,
                 "baseline log-probs " + shape_of(base) + " and variant log-probs " + shape_of(var) +
                     " differ (vocabulary or position mismatch)",
                 "compare models with the same vocabulary on the same windows"};
  if (base.device() != var.device())
    return Error{kThing, "baseline and variant log-probs are on different devices", "move both to one device"};
  const std::int64_t n = base.size(0), vocab = base.size(1);
  if (targets.dim() != 1 || targets.size(0) != n || targets.scalar_type() != at::kLong)
    return Error{kThing, "targets must be [" + std::to_string(n) + "] int64, got " + shape_of(targets),
                 "pass the correct next token of each row"};
  if (n == 0) return {};
  if (vocab == 0) return Error{kThing, "the vocabulary is empty", "pass full-vocabulary rows"};
  const at::Tensor t = targets.to(base.device());
  const std::int64_t t_min = t.min().item<std::int64_t>(), t_max = t.max().item<std::int64_t>();
  if (t_min < 0 || t_max >= vocab)
    return Error{kThing, "a target id is outside [0, " + std::to_string(vocab) + ")",
                 "targets must index the log-prob rows' vocabulary"};
  const bool cpu_rows = !base.is_cuda() && base.is_contiguous() && var.is_contiguous();
  at::Tensor kl_fast = cpu_rows ? at::empty({n}, at::kDouble) : at::Tensor();
  std::int64_t same_fast = 0;
  const bool fast = cpu_rows && fused_kl_cpu(base, var, kl_fast.data_ptr<double>(), &same_fast);
  // A finite KL row implies finite inputs (a NaN or ±inf in either row makes its sum non-finite).
  if (!fast) {
  if (const auto row = first_non_finite_row(base); row >= 0)
    return Error{std::string(kThing) + " baseline log-probs row " + std::to_string(row), "is not finite (NaN or inf)",
                 "check the baseline's forward pass"};
  if (const auto row = first_non_finite_row(var); row >= 0)
    return Error{std::string(kThing) + " variant log-probs row " + std::to_string(row), "is not finite (NaN or inf)",
                 "check the variant's forward pass (overflow in a low-precision dtype?)"};
  }

  // KL(P_base ‖ P_var) per token, full vocabulary, nats: Σ_v exp(lb)·(lb - lv), all in float64.
  // CUDA: 16x larger chunks (1 GiB of float64 per operand): fewer, larger launches.
  const std::int64_t chunk = base.is_cuda() ? kChunkElements * 16 : kChunkElements;
  const std::int64_t rows = std::max<std::int64_t>(1, chunk / vocab);
  std::vector<at::Tensor> parts;
  for (std::int64_t s = 0; !fast && s < n; s += rows) {
    const std::int64_t m = std::min(rows, n - s);
    const at::Tensor lb = base.narrow(0, s, m).to(at::kDouble);
    const at::Tensor lv = var.narrow(0, s, m).to(at::kDouble);
    parts.push_back((lb.exp() * (lb - lv)).sum(1));
  }
  const at::Tensor kl = fast ? kl_fast : at::cat(parts).cpu().contiguous();
  // Δp = p_var(target) - p_base(target) (probabilities, float64).
  const at::Tensor idx = t.unsqueeze(1);
  const at::Tensor lbt = base.gather(1, idx).squeeze(1).to(at::kDouble);
  const at::Tensor lvt = var.gather(1, idx).squeeze(1).to(at::kDouble);
  const at::Tensor dp = (lvt.exp() - lbt.exp()).cpu().contiguous();
  const at::Tensor nll_b = lbt.neg().cpu().contiguous(), nll_v = lvt.neg().cpu().contiguous();
  // Same top token: argmax agreement (torch.argmax: lowest index among equal maxima).
  const std::int64_t same = fast ? same_fast : at::eq(base.argmax(1), var.argmax(1)).sum().item<std::int64_t>();

  const double* klp = kl.data_ptr<double>();
  const double* dpp = dp.data_ptr<double>();
  const double* nbp = nll_b.data_ptr<double>();
  const double* nvp = nll_v.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    kl_.add(klp[i]);
    dp_.add(dpp[i]);
    dp2_.add(dpp[i] * dpp[i]);
    nll_.add(nvp[i], nbp[i]);
    kl_values_.push_back(klp[i]);
    dp_values_.push_back(dpp[i]);
  }
  same_top_ += same;
  return {};
}

void KlStats::merge(const KlStats& o) {
  kl_.merge(o.kl_);
  dp_.merge(o.dp_);
  dp2_.merge(o.dp2_);
  nll_.merge(o.nll_);
  same_top_ += o.same_top_;
  kl_values_.insert(kl_values_.end(), o.kl_values_.begin(), o.kl_values_.end());
  dp_values_.insert(dp_values_.end(), o.dp_values_.begin(), o.dp_values_.end());
}

double KlStats::same_top_fraction() const { return n() ? static_cast<double>(same_top_) / static_cast<double>(n()) : 0; }
// Binomial standard error of a proportion, as llama.cpp: sqrt(f(1-f)/(n-1)).
double KlStats::same_top_stderr() const {
  if (n() < 2) return 0;
  const double f = same_top_fraction();
  return std::sqrt(f * (1 - f) / static_cast<double>(n() - 1));
}
double KlStats::delta_p_rms() const { return std::sqrt(std::max(0.0, dp2_.mean())); }
// d sqrt(m) = dm / (2 sqrt(m)) (llama.cpp's RMS Δp uncertainty).
double KlStats::delta_p_rms_stderr() const {
  const double rms = delta_p_rms();
  return rms > 0 ? 0.5 / rms * dp2_.stderr_() : 0;
}
double KlStats::ppl_variant() const { return std::exp(nll_.x().mean()); }
double KlStats::ppl_base() const { return std::exp(nll_.y().mean()); }
double KlStats::ln_ppl_ratio() const { return nll_.x().mean() - nll_.y().mean(); }
double KlStats::ln_ppl_ratio_stderr() const { return nll_.stderr_of_mean_difference(); }

Result<std::vector<MetricValue>> KlStats::values(const std::string& group) const {
  if (n() == 0) return Error{kThing, "no tokens were compared", "evaluate at least one scored position"};
  std::vector<MetricValue> out;
  auto add = [&](std::string name, double v, std::optional<double> se, std::string unit, Better b) {
    out.push_back(MetricValue{std::move(name), v, se, n(), std::move(unit), b, group});
  };
  const bool pct = n() >= kMinTokensForPercentiles;
  add("kl_mean", kl_.mean(), kl_.stderr_(), "nats", Better::lower);
  if (pct) {
    const auto s = sorted_copy(kl_values_);
    for (const auto& q : kKlQuantiles) add(std::string("kl_") + q.key, percentile(s, q.q), std::nullopt, "nats", Better::lower);
  }
  add("dp_mean", 100.0 * dp_.mean(), 100.0 * dp_.stderr_(), "%", Better::none);
  add("dp_rms", 100.0 * delta_p_rms(), 100.0 * delta_p_rms_stderr(), "%", Better::lower);
  if (pct) {
    const auto s = sorted_copy(dp_values_);
    for (const auto& q : kDpQuantiles) add(std::string("dp_") + q.key, 100.0 * percentile(s, q.q), std::nullopt, "%", Better::none);
  }
  add("same_top_p", 100.0 * same_top_fraction(), 100.0 * same_top_stderr(), "%", Better::higher);
  // PPL = exp(mean NLL); its stderr by the delta method, exp(m)·se(m) (llama.cpp).
  add("ppl_variant", ppl_variant(), ppl_variant() * nll_.x().stderr_(), "", Better::lower);
  add("ppl_base", ppl_base(), ppl_base() * nll_.y().stderr_(), "", Better::none);
  add("ln_ppl_ratio", ln_ppl_ratio(), ln_ppl_ratio_stderr(), "nats", Better::lower);
  const double ratio = std::exp(ln_ppl_ratio());
  add("ppl_ratio", ratio, ratio * ln_ppl_ratio_stderr(), "", Better::lower);
  add("nll_correlation", 100.0 * nll_.correlation(), std::nullopt, "%", Better::higher);
  return out;
}

nlohmann::json KlStats::details() const {
  nlohmann::json j;
  j["n"] = n();
  j["min_tokens_for_percentiles"] = kMinTokensForPercentiles;
  const bool pct = n() >= kMinTokensForPercentiles;
  auto table = [&](const std::vector<double>& values, const auto& quantiles, double scale) -> nlohmann::json {
    if (!pct) return not_enough(n());
    const auto s = sorted_copy(values);
    nlohmann::json t = nlohmann::json::object();
    for (const auto& q : quantiles) t[q.key] = scale * percentile(s, q.q);
    return t;
  };
  j["kl_nats"] = {{"mean", kl_.mean()}, {"stderr", kl_.stderr_()}, {"percentiles", table(kl_values_, kKlQuantiles, 1.0)}};
  j["delta_p_pct"] = {{"mean", 100.0 * dp_.mean()},
                      {"stderr", 100.0 * dp_.stderr_()},
                      {"rms", 100.0 * delta_p_rms()},
                      {"rms_stderr", 100.0 * delta_p_rms_stderr()},
                      {"percentiles", table(dp_values_, kDpQuantiles, 100.0)}};
  j["same_top_p_pct"] = {{"value", 100.0 * same_top_fraction()}, {"stderr", 100.0 * same_top_stderr()},
                         {"same", same_top_}};
  const double ratio = std::exp(ln_ppl_ratio());
  j["perplexity"] = {{"variant", ppl_variant()},
                     {"variant_stderr", ppl_variant() * nll_.x().stderr_()},
                     {"base", ppl_base()},
                     {"base_stderr", ppl_base() * nll_.y().stderr_()},
                     {"ln_ratio", ln_ppl_ratio()},
                     {"ln_ratio_stderr", ln_ppl_ratio_stderr()},
                     {"ratio", ratio},
                     {"ratio_stderr", ratio * ln_ppl_ratio_stderr()},
                     {"nll_correlation_pct", 100.0 * nll_.correlation()}};
  return j;
}

std::string KlStats::render() const {
  std::string out;
  char line[160];
  auto put = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  put("tokens compared: %lld\n", static_cast<long long>(n()));
  if (n() == 0) return out;
  const double ratio = std::exp(ln_ppl_ratio());
  out += "====== Perplexity statistics ======\n";
  put("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl_variant(), ppl_variant() * nll_.x().stderr_());
  put("Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_base(), ppl_base() * nll_.y().stderr_());
  put("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * nll_.correlation());
  put("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", ln_ppl_ratio(), ln_ppl_ratio_stderr());
  put("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio, ratio * ln_ppl_ratio_stderr());
  out += "\n====== KL divergence statistics ======\n";
  put("Mean    KLD: %10.6f ± %10.6f\n", kl_.mean(), kl_.stderr_());
  const bool pct = n() >= kMinTokensForPercentiles;
  if (pct) {
    const auto s = sorted_copy(kl_values_);
    for (const auto& q : kKlQuantiles) put("%-7s KLD: %10.6f\n", q.label, percentile(s, q.q));
  } else {
    put("Percentiles: %s\n", not_enough(n()).c_str());
  }
  out += "\n====== Token probability statistics ======\n";
  put("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * dp_.mean(), 100.0 * dp_.stderr_());
  if (pct) {
    const auto s = sorted_copy(dp_values_);
    for (const auto& q : kDpQuantiles) put("%-7s Δp: %6.3f%%\n", q.label, 100.0 * percentile(s, q.q));
  } else {
    put("Percentiles: %s\n", not_enough(n()).c_str());
  }
  put("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * delta_p_rms(), 100.0 * delta_p_rms_stderr());
  put("Same top p: %6.3f ± %5.3f %%\n", 100.0 * same_top_fraction(), 100.0 * same_top_stderr());
  return out;
}

}  // namespace qrun
