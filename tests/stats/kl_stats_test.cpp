// KlStats against direct float64 computations on small hand-made distributions.
#include <qrun/kl_stats.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// 1e-12: the same float64 formula evaluated in another summation order.
constexpr double kSumOrderTol = 1e-12;

// Rows of probabilities -> [N, V] float32 log-probs (ln computed in float64, then rounded).
at::Tensor logprobs(const std::vector<std::vector<double>>& probs) {
  const auto n = static_cast<std::int64_t>(probs.size()), v = static_cast<std::int64_t>(probs[0].size());
  at::Tensor t = at::empty({n, v}, at::kDouble);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < v; ++j) t[i][j] = std::log(probs[i][j]);
  return t.to(at::kFloat);
}

at::Tensor ids(const std::vector<std::int64_t>& v) {
  return at::tensor(at::ArrayRef<std::int64_t>(v), at::kLong);
}

// Direct float64 KL(P ‖ Q) for one row of float32 log-probs.
double direct_kl(const at::Tensor& lp, const at::Tensor& lq, std::int64_t row) {
  double s = 0;
  for (std::int64_t j = 0; j < lp.size(1); ++j) {
    const double a = lp[row][j].item<float>(), b = lq[row][j].item<float>();
    s += std::exp(a) * (a - b);
  }
  return s;
}

const std::vector<std::vector<double>> kBase = {
    {0.70, 0.20, 0.05, 0.05}, {0.25, 0.25, 0.25, 0.25}, {0.10, 0.60, 0.20, 0.10}};
const std::vector<std::vector<double>> kVar = {
    {0.40, 0.40, 0.10, 0.10}, {0.10, 0.20, 0.30, 0.40}, {0.05, 0.55, 0.30, 0.10}};
const std::vector<std::int64_t> kTargets = {1, 3, 1};

at::Tensor random_logprobs(std::int64_t n, std::int64_t v, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::log_softmax(at::randn({n, v}, gen, at::kFloat) * 3.0, 1);
}

}  // namespace

TEST_CASE("KL per token equals a direct float64 sum on hand-made distributions", "[kl_stats]") {
  const at::Tensor b = logprobs(kBase), v = logprobs(kVar);
  qrun::KlStats s;
  REQUIRE(s.add(b, v, ids(kTargets)).ok());
  REQUIRE(s.n() == 3);
  for (std::int64_t i = 0; i < 3; ++i) REQUIRE_THAT(s.kl_values()[i], WithinAbs(direct_kl(b, v, i), kSumOrderTol));
  // Against the exact distributions: only the float32 rounding of ln p separates them.
  double exact0 = 0;
  for (int j = 0; j < 4; ++j) exact0 += kBase[0][j] * std::log(kBase[0][j] / kVar[0][j]);
  REQUIRE_THAT(s.kl_values()[0], WithinAbs(exact0, 1e-6));
  const double mean = (direct_kl(b, v, 0) + direct_kl(b, v, 1) + direct_kl(b, v, 2)) / 3;
  REQUIRE_THAT(s.kl().mean(), WithinAbs(mean, kSumOrderTol));
}

TEST_CASE("delta p, same top and both NLLs equal a direct float64 computation", "[kl_stats]") {
  const at::Tensor b = logprobs(kBase), v = logprobs(kVar);
  qrun::KlStats s;
  REQUIRE(s.add(b, v, ids(kTargets)).ok());
  double nll_b = 0, nll_v = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    const double lb = b[i][kTargets[i]].item<float>(), lv = v[i][kTargets[i]].item<float>();
    REQUIRE_THAT(s.delta_p_values()[i], WithinAbs(std::exp(lv) - std::exp(lb), kSumOrderTol));
    nll_b -= lb;
    nll_v -= lv;
  }
  // Row 0: argmax 0 vs 0 and 1 tied (lowest index wins: 0) -> same; row 1: 0 vs 3; row 2: 1 vs 1.
  REQUIRE(s.same_top() == 2);
  REQUIRE_THAT(s.same_top_fraction(), WithinAbs(2.0 / 3.0, kSumOrderTol));
  REQUIRE_THAT(s.ppl_base(), WithinRel(std::exp(nll_b / 3), kSumOrderTol));
  REQUIRE_THAT(s.ppl_variant(), WithinRel(std::exp(nll_v / 3), kSumOrderTol));
  REQUIRE_THAT(s.ln_ppl_ratio(), WithinAbs((nll_v - nll_b) / 3, kSumOrderTol));
}

TEST_CASE("identical baseline and variant give exactly zero KL and 100 % same top p", "[kl_stats]") {
  const at::Tensor lp = random_logprobs(150, 37, 7);
  const at::Tensor t = at::randint(37, {150}, at::make_generator<at::CPUGeneratorImpl>(8), at::kLong);
  qrun::KlStats s;
  REQUIRE(s.add(lp, lp.clone(), t).ok());
  REQUIRE(s.kl().mean() == 0.0);
  REQUIRE(s.kl().max() == 0.0);
  REQUIRE(s.kl().min() == 0.0);
  REQUIRE(s.same_top() == 150);
  REQUIRE(s.delta_p_rms() == 0.0);
  REQUIRE(s.ln_ppl_ratio() == 0.0);
  auto values = s.values();
  REQUIRE(values.ok());
  for (const auto& mv : *values) {
    if (mv.name == "same_top_p") REQUIRE(mv.value == 100.0);
    if (mv.name.rfind("kl_", 0) == 0) REQUIRE(mv.value == 0.0);
  }
}

TEST_CASE("llama.cpp's uncertainty formulas hold for the ratio, RMS and same-top stderr", "[kl_stats]") {
  const at::Tensor b = random_logprobs(400, 11, 1), v = random_logprobs(400, 11, 2);
  const at::Tensor t = at::randint(11, {400}, at::make_generator<at::CPUGeneratorImpl>(3), at::kLong);
  qrun::KlStats s;
  REQUIRE(s.add(b, v, t).ok());
  // llama.cpp keeps raw sums; recompute its formulas from them.
  double sn = 0, sn2 = 0, sb = 0, sb2 = 0, snb = 0, sd2 = 0, sd4 = 0;
  const double n = 400;
  for (std::int64_t i = 0; i < 400; ++i) {
    const auto ti = t[i].item<std::int64_t>();
    const double nb = -static_cast<double>(b[i][ti].item<float>()), nv = -static_cast<double>(v[i][ti].item<float>());
    const double d = std::exp(-nv) - std::exp(-nb);
    sn += nv; sn2 += nv * nv; sb += nb; sb2 += nb * nb; snb += nv * nb; sd2 += d * d; sd4 += d * d * d * d;
  }
  auto se = [&](double s1, double s2) { const double f = s1 / n; return std::sqrt((s2 / n - f * f) / (n - 1)); };
  const double cov = (snb / n - (sn / n) * (sb / n)) / (n - 1);
  const double ratio_unc = std::sqrt(se(sn, sn2) * se(sn, sn2) + se(sb, sb2) * se(sb, sb2) - 2 * cov);
  REQUIRE_THAT(s.ln_ppl_ratio_stderr(), WithinRel(ratio_unc, 1e-9));
  const double rms = std::sqrt(sd2 / n);
  REQUIRE_THAT(s.delta_p_rms(), WithinRel(rms, 1e-12));
  REQUIRE_THAT(s.delta_p_rms_stderr(), WithinRel(0.5 / rms * se(sd2, sd4), 1e-9));
  const double f = s.same_top_fraction();
  REQUIRE_THAT(s.same_top_stderr(), WithinRel(std::sqrt(f * (1 - f) / (n - 1)), 1e-12));
}

TEST_CASE("KL percentiles are the linear-interpolation percentiles of the per-token values", "[kl_stats]") {
  const at::Tensor b = random_logprobs(101, 9, 4), v = random_logprobs(101, 9, 5);
  const at::Tensor t = at::zeros({101}, at::kLong);
  qrun::KlStats s;
  REQUIRE(s.add(b, v, t).ok());
  std::vector<double> sorted = s.kl_values();
  std::sort(sorted.begin(), sorted.end());
  auto values = s.values();
  REQUIRE(values.ok());
  int seen = 0;
  for (const auto& mv : *values) {
    if (mv.name == "kl_median") { REQUIRE(mv.value == sorted[50]); ++seen; }
    if (mv.name == "kl_p90") { REQUIRE(mv.value == sorted[90]); ++seen; }
    if (mv.name == "kl_max") { REQUIRE(mv.value == sorted[100]); ++seen; }
    if (mv.name == "kl_min") { REQUIRE(mv.value == sorted[0]); ++seen; }
  }
  REQUIRE(seen == 4);
}

TEST_CASE("below 100 tokens KL stats say n/a instead of percentiles", "[kl_stats]") {
  const at::Tensor b = random_logprobs(37, 5, 1), v = random_logprobs(37, 5, 2);
  qrun::KlStats s;
  REQUIRE(s.add(b, v, at::zeros({37}, at::kLong)).ok());
  auto values = s.values();
  REQUIRE(values.ok());
  for (const auto& mv : *values) {
    REQUIRE(mv.name != "kl_median");
    REQUIRE(mv.name != "dp_p99");
  }
  REQUIRE(s.details()["kl_nats"]["percentiles"] == "n/a (n=37 < 100)");
  REQUIRE(s.render().find("n/a (n=37 < 100)") != std::string::npos);
}

TEST_CASE("KlStats merged from two parts equals one accumulator over both", "[kl_stats]") {
  const at::Tensor b = random_logprobs(60, 13, 1), v = random_logprobs(60, 13, 2);
  const at::Tensor t = at::randint(13, {60}, at::make_generator<at::CPUGeneratorImpl>(3), at::kLong);
  qrun::KlStats all, a, c;
  REQUIRE(all.add(b, v, t).ok());
  REQUIRE(a.add(b.narrow(0, 0, 25), v.narrow(0, 0, 25), t.narrow(0, 0, 25)).ok());
  REQUIRE(c.add(b.narrow(0, 25, 35), v.narrow(0, 25, 35), t.narrow(0, 25, 35)).ok());
  a.merge(c);
  REQUIRE(a.n() == 60);
  REQUIRE(a.kl_values() == all.kl_values());
  REQUIRE(a.same_top() == all.same_top());
  REQUIRE_THAT(a.kl().mean(), WithinRel(all.kl().mean(), kSumOrderTol));
  REQUIRE_THAT(a.ln_ppl_ratio_stderr(), WithinRel(all.ln_ppl_ratio_stderr(), 1e-9));
}

TEST_CASE("a vocabulary mismatch is an error and adds nothing", "[kl_stats][errors]") {
  qrun::KlStats s;
  auto r = s.add(random_logprobs(4, 10, 1), random_logprobs(4, 12, 2), at::zeros({4}, at::kLong));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "kl_stats");
  REQUIRE(r.error().fix == "compare models with the same vocabulary on the same windows");
  REQUIRE(s.n() == 0);
}

TEST_CASE("a non-finite variant log-prob is an error naming its row", "[kl_stats][errors]") {
  at::Tensor v = random_logprobs(5, 6, 2);
  v[3][2] = std::numeric_limits<float>::quiet_NaN();
  qrun::KlStats s;
  auto r = s.add(random_logprobs(5, 6, 1), v, at::zeros({5}, at::kLong));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "kl_stats variant log-probs row 3");
  REQUIRE(s.n() == 0);
}

TEST_CASE("a target outside the vocabulary is an error", "[kl_stats][errors]") {
  qrun::KlStats s;
  auto r = s.add(random_logprobs(2, 6, 1), random_logprobs(2, 6, 2), ids({0, 6}));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "kl_stats");
}

TEST_CASE("values of an empty KlStats is an error", "[kl_stats][errors]") {
  qrun::KlStats s;
  REQUIRE_FALSE(s.values().ok());
}
