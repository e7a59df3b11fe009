// HQQ (plugins/quantizers/hqq): the quantizer and proximal solver against a float64 transcription
// of mobiusml/hqq v0.1.0's Quantizer.quantize + optimize_weights_proximal (the oracle below), on
// both grouping axes and several widths.
#include "hqq/hqq_solver.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace qrun;

namespace {

struct Oracle {
  std::vector<std::vector<double>> codes;  // [group][element]
  std::vector<double> scale, zero;         // per group: 1/s and z
  int iterations = 0;
};

// groups[k] = the flat indices of W (row-major [out, in]) in group k, in the view's order.
std::vector<std::vector<std::int64_t>> groups_of(std::int64_t numel, std::int64_t g, int axis) {
  std::vector<std::vector<std::int64_t>> out;
  if (axis == 1) {  // W.reshape([-1, g]): row k holds k*g .. k*g + g - 1
    for (std::int64_t k = 0; k < numel / g; ++k) {
      out.emplace_back();
      for (std::int64_t j = 0; j < g; ++j) out.back().push_back(k * g + j);
    }
  } else {  // W.reshape([g, -1]): column k holds k, k + n, ..., n = numel / g
    const std::int64_t n = numel / g;
    for (std::int64_t k = 0; k < n; ++k) {
      out.emplace_back();
      for (std::int64_t j = 0; j < g; ++j) out.back().push_back(j * n + k);
    }
  }
  return out;
}

Oracle oracle(const std::vector<double>& W, std::int64_t g, int axis, int nbits) {
  const double max_v = std::round(std::pow(2.0, nbits) - 1), p = 0.7, kappa = 1.01;
  const auto groups = groups_of(static_cast<std::int64_t>(W.size()), g, axis);
  const std::size_t G = groups.size();
  std::vector<double> s(G), z(G);
  for (std::size_t k = 0; k < G; ++k) {
    double mn = 1e300, mx = -1e300;
    for (auto i : groups[k]) mn = std::min(mn, W[i]), mx = std::max(mx, W[i]);
    const double denom = mx - mn;
    s[k] = std::fabs(denom) <= 1e-4 ? 1.0 : std::min(max_v / denom, 2e4);
    z[k] = -mn * s[k];
    if (nbits == 4) z[k] = std::nearbyint(z[k]);  // round_zero
  }
  auto q = [&](double w, std::size_t k) { return std::min(std::max(std::nearbyint(w * s[k] + z[k]), 0.0), max_v); };
  double beta = 10.0, best = 1e4;
  Oracle o;
  for (int it = 0; it < 20; ++it) {
    double err = 0;
    std::vector<double> newz(G);
    for (std::size_t k = 0; k < G; ++k) {
      double acc = 0;
      for (auto i : groups[k]) {
        const double wq = q(W[i], k), wr = (wq - z[k]) / s[k], d = W[i] - wr;
        // shrink_lp_op: sign(x) relu(|x| - |x|^(p-1) / beta)
        const double we = (d > 0 ? 1 : d < 0 ? -1 : 0) * std::max(std::fabs(d) - std::pow(std::fabs(d), p - 1) / beta, 0.0);
        acc += wq - (W[i] - we) * s[k];
        err += std::fabs(d);
      }
      newz[k] = acc / static_cast<double>(g);
    }
    z = newz;
    beta *= kappa;
    ++o.iterations;
    err /= static_cast<double>(W.size());
    if (err < best) best = err;
    else break;
  }
  for (std::size_t k = 0; k < G; ++k) {
    o.codes.emplace_back();
    for (auto i : groups[k]) o.codes.back().push_back(q(W[i], k));
    o.scale.push_back(1.0 / s[k]);
    o.zero.push_back(z[k]);
  }
  return o;
}

}  // namespace

TEST_CASE("hqq codes, scales and zeros equal the float64 oracle of HQQ v0.1.0 on both axes", "[hqq]") {
  c10::InferenceMode guard;
  at::manual_seed(31);
  at::Tensor W = at::randn({12, 48}, at::TensorOptions().dtype(at::kDouble)) * 0.05;
  W[0][7] = 0.9;   // outlier
  W[3].fill_(0.02);  // a constant row (range <= 1e-4 in its groups: scale 1)
  const std::vector<double> flat(W.data_ptr<double>(), W.data_ptr<double>() + W.numel());
  for (int nbits : {2, 3, 4, 8})
    for (int axis : {0, 1}) {
      CAPTURE(nbits, axis);
      const std::int64_t g = 16;
      const hqq::Params p{nbits, g, axis, nbits == 4};
      const auto got = hqq::quantize(W, p);
      const auto want = oracle(flat, g, axis, nbits);
      CHECK(got.iterations == want.iterations);
      const auto groups = groups_of(W.numel(), g, axis);
      // got.codes is the grouped view: [groups, g] (axis 1) or [g, groups] (axis 0).
      for (std::size_t k = 0; k < groups.size(); ++k) {
        const auto kk = static_cast<std::int64_t>(k);
        CHECK(got.scale.reshape({-1})[kk].item<double>() == Approx(want.scale[k]).epsilon(1e-12));
        CHECK(got.zero.reshape({-1})[kk].item<double>() == Approx(want.zero[k]).epsilon(1e-10).margin(1e-12));
        for (std::int64_t j = 0; j < g; ++j) {
          const double c = axis == 1 ? got.codes[kk][j].item<double>() : got.codes[j][kk].item<double>();
          CHECK(c == want.codes[k][static_cast<std::size_t>(j)]);
        }
      }
    }
}
