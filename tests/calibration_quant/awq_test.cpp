// AWQ (plugins/quantizers/awq): the scale search and the clip search against float64
// transcriptions of llm-awq's _search_module_scale and auto_clip_layer (the oracles below), the
// GEMM packing against AutoAWQ's WQLinear_GEMM.from_linear loops, hand-built layers.
#include "awq/awq_format.hpp"
#include "awq/awq_search.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace qrun;

namespace {

using Vec = std::vector<double>;
using Rowsd = std::vector<Vec>;  // [rows][cols]

Rowsd rows_of(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  Rowsd r(static_cast<std::size_t>(d.size(0)), Vec(static_cast<std::size_t>(d.size(1))));
  for (std::size_t i = 0; i < r.size(); ++i)
    for (std::size_t j = 0; j < r[0].size(); ++j) r[i][j] = d.data_ptr<double>()[i * r[0].size() + j];
  return r;
}

// pseudo_quantize_tensor(zero_point=True) on groups of `g` along each row, float64.
Rowsd pq(const Rowsd& w, int bits, std::size_t g) {
  const double max_int = std::pow(2.0, bits) - 1;
  Rowsd out = w;
  for (auto& row : out)
    for (std::size_t c0 = 0; c0 < row.size(); c0 += g) {
      double mx = -1e300, mn = 1e300;
      for (std::size_t j = c0; j < c0 + g; ++j) mx = std::max(mx, row[j]), mn = std::min(mn, row[j]);
      const double s = std::max(mx - mn, 1e-5) / max_int;
      const double z = std::min(std::max(-std::nearbyint(mn / s), 0.0), max_int);
      for (std::size_t j = c0; j < c0 + g; ++j) row[j] = (std::min(std::max(std::nearbyint(row[j] / s) + z, 0.0), max_int) - z) * s;
    }
  return out;
}

Rowsd linear(const Rowsd& x, const Rowsd& w) {  // x W^T
  Rowsd y(x.size(), Vec(w.size(), 0.0));
  for (std::size_t t = 0; t < x.size(); ++t)
    for (std::size_t o = 0; o < w.size(); ++o)
      for (std::size_t k = 0; k < x[0].size(); ++k) y[t][o] += x[t][k] * w[o][k];
  return y;
}

// _search_module_scale with `block(weights)` the inspected output; returns losses per ratio.
template <class Block>
Vec oracle_scale_losses(const Rowsd& x, const std::vector<Rowsd>& ws, int bits, std::size_t g, Block block) {
  const std::size_t in = x[0].size();
  Vec x_max(in, 0.0);  // get_act_scale: mean |x|
  for (const auto& row : x)
    for (std::size_t k = 0; k < in; ++k) x_max[k] += std::fabs(row[k]) / static_cast<double>(x.size());
  const Rowsd org = block(ws);
  Vec losses;
  for (int k = 0; k < 20; ++k) {
    const double ratio = static_cast<double>(k) / 20;
    Vec s(in);
    double mx = 0, mn = 1e300;
    for (std::size_t i = 0; i < in; ++i) s[i] = std::max(std::pow(x_max[i], ratio), 1e-4), mx = std::max(mx, s[i]), mn = std::min(mn, s[i]);
    for (auto& v : s) v /= std::sqrt(mx * mn);
    std::vector<Rowsd> cand;
    for (const Rowsd& w : ws) {
      Rowsd ws_ = w;
      for (auto& row : ws_)
        for (std::size_t i = 0; i < in; ++i) row[i] *= s[i];
      ws_ = pq(ws_, bits, g);
      for (auto& row : ws_)
        for (std::size_t i = 0; i < in; ++i) row[i] /= s[i];
      cand.push_back(ws_);
    }
    const Rowsd out = block(cand);
    double sum = 0, n = 0;
    for (std::size_t t = 0; t < out.size(); ++t)
      for (std::size_t o = 0; o < out[0].size(); ++o) sum += (org[t][o] - out[t][o]) * (org[t][o] - out[t][o]), ++n;
    losses.push_back(sum / n);
  }
  return losses;
}

std::size_t argmin_first(const Vec& v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] < v[best]) best = i;
  return best;
}

// Activations with a few salient channels (AWQ's premise) and a weight with an outlier.
at::Tensor fixture_x(std::int64_t tokens, std::int64_t in) {
  at::manual_seed(21);
  at::Tensor x = at::randn({tokens, in}, at::TensorOptions().dtype(at::kDouble));
  x.select(1, 3).mul_(25.0);
  x.select(1, 17).mul_(12.0);
  x.select(1, 40).mul_(0.05);
  return x;
}
at::Tensor fixture_w(std::int64_t out, std::int64_t in, int seed) {
  at::manual_seed(seed);
  at::Tensor w = at::randn({out, in}, at::TensorOptions().dtype(at::kDouble)) * 0.05;
  w[0][5] = 0.6;
  return w;
}

}  // namespace

TEST_CASE("awq pseudo_quantize is llm-awq's pseudo_quantize_tensor", "[awq]") {
  c10::InferenceMode guard;
  const at::Tensor w = fixture_w(8, 64, 3);
  for (int bits : {2, 3, 4, 8}) {
    at::Tensor s, z;
    const at::Tensor got = awq::pseudo_quantize(w, {bits, 16}, &s, &z);
    const Rowsd want = pq(rows_of(w), bits, 16);
    CHECK(s.sizes() == at::IntArrayRef({8, 4}));
    for (std::int64_t i = 0; i < 8; ++i)
      for (std::int64_t j = 0; j < 64; ++j) CHECK(got[i][j].item<double>() == Approx(want[i][j]).margin(1e-15));
  }
}

TEST_CASE("awq scale search picks the ratio minimising the reference's loss: one linear", "[awq]") {
  c10::InferenceMode guard;
  const at::Tensor x = fixture_x(96, 64), w = fixture_w(24, 64, 4);
  for (int bits : {3, 4}) {
    CAPTURE(bits);
    const awq::QConfig q{bits, 16};
    const auto got = awq::search_scale(awq::act_scale(x), {w}, q, [&](const std::vector<at::Tensor>& c) {
      return (at::linear(x, w) - at::linear(x, c[0])).square().mean().item<double>();
    });
    const Rowsd xr = rows_of(x);
    const Vec want = oracle_scale_losses(xr, {rows_of(w)}, bits, 16, [&](const std::vector<Rowsd>& ws) { return linear(xr, ws[0]); });
    REQUIRE(got.losses.size() == 20);
    for (std::size_t k = 0; k < 20; ++k) CHECK(got.losses[k] == Approx(want[k]).epsilon(1e-9));
    CHECK(got.ratio == static_cast<double>(argmin_first(want)) / 20);
    CHECK(got.ratio > 0);  // the salient channels make scaling pay off on this fixture
    CHECK(got.losses[argmin_first(want)] < got.losses[0]);
  }
}

TEST_CASE("awq scale search over two layers feeding one output (gate, up -> down)", "[awq]") {
  c10::InferenceMode guard;
  const at::Tensor x = fixture_x(64, 64), gate = fixture_w(32, 64, 5), up = fixture_w(32, 64, 6), down = fixture_w(16, 32, 7);
  auto mlp = [&](const at::Tensor& g, const at::Tensor& u) { return at::linear(at::silu(at::linear(x, g)) * at::linear(x, u), down); };
  const at::Tensor org = mlp(gate, up);
  const awq::QConfig q{4, 32};
  const auto got = awq::search_scale(awq::act_scale(x), {gate, up}, q, [&](const std::vector<at::Tensor>& c) {
    return (org - mlp(c[0], c[1])).square().mean().item<double>();
  });
  const Rowsd xr = rows_of(x), dr = rows_of(down);
  const Vec want = oracle_scale_losses(xr, {rows_of(gate), rows_of(up)}, 4, 32, [&](const std::vector<Rowsd>& ws) {
    Rowsd g = linear(xr, ws[0]), u = linear(xr, ws[1]);
    for (std::size_t t = 0; t < g.size(); ++t)
      for (std::size_t o = 0; o < g[0].size(); ++o) g[t][o] = g[t][o] / (1 + std::exp(-g[t][o])) * u[t][o];  // SiLU(g) * u
    return linear(g, dr);
  });
  for (std::size_t k = 0; k < 20; ++k) CHECK(got.losses[k] == Approx(want[k]).epsilon(1e-9));
  CHECK(got.ratio == static_cast<double>(argmin_first(want)) / 20);
}

TEST_CASE("awq clip search keeps, per group, the shrink with the lowest output error (auto_clip_layer)", "[awq]") {
  c10::InferenceMode guard;
  const at::Tensor x = fixture_x(1100, 64), w = fixture_w(8, 64, 8);
  const awq::QConfig q{3, 16};
  const at::Tensor got = awq::clip_search(w, x, q);
  REQUIRE(got.sizes() == at::IntArrayRef({8, 4}));
  // Oracle: tokens x[0::1100 // 512] (stride 2), per (row, group): for i in range(10):
  // max_val = amax|w_g| * (1 - i / 20); err = mean_t (x_t,g . (q(clamp(w_g)) - w_g))^2; strict <.
  const Rowsd xr = rows_of(x), wr = rows_of(w);
  for (std::size_t o = 0; o < 8; ++o)
    for (std::size_t g = 0; g < 4; ++g) {
      double amax = 0;
      for (std::size_t k = 0; k < 16; ++k) amax = std::max(amax, std::fabs(wr[o][g * 16 + k]));
      double best = 1e9, best_max = amax;
      for (int i = 0; i < 10; ++i) {
        const double mv = amax * (1 - static_cast<double>(i) / 20);
        Rowsd cur(1, Vec(16));
        for (std::size_t k = 0; k < 16; ++k) cur[0][k] = std::min(std::max(wr[o][g * 16 + k], -mv), mv);
        const Rowsd qw = pq(cur, 3, 16);
        double err = 0, n = 0;
        for (std::size_t t = 0; t < xr.size(); t += 2) {
          double a = 0, b = 0;
          for (std::size_t k = 0; k < 16; ++k) a += xr[t][g * 16 + k] * qw[0][k], b += xr[t][g * 16 + k] * wr[o][g * 16 + k];
          err += (a - b) * (a - b), ++n;
        }
        if (err / n < best) best = err / n, best_max = mv;
      }
      CAPTURE(o, g);
      CHECK(got[static_cast<std::int64_t>(o)][static_cast<std::int64_t>(g)].item<double>() == Approx(best_max).epsilon(1e-12));
    }
  const at::Tensor clipped = awq::apply_clip(w, got);
  CHECK(at::all(clipped.abs().reshape({8, 4, 16}) <= got.unsqueeze(-1) + 1e-15).item<bool>());
}

TEST_CASE("awq GEMM packing is AutoAWQ's from_linear order and loads back as the format defines", "[awq][format]") {
  c10::InferenceMode guard;
  at::manual_seed(9);
  const std::int64_t out = 24, in = 64, groups = 4;
  const at::Tensor codes = at::randint(0, 16, {out, in}, at::TensorOptions().dtype(at::kLong));
  const at::Tensor zeros = at::randint(0, 16, {out, groups}, at::TensorOptions().dtype(at::kLong));
  const at::Tensor scales = at::rand({out, groups}) * 0.05 + 0.001;
  // from_linear: qweight[:, col] |= intweight[:, col * 8 + order_map[i]] << (i * 4), intweight = codes^T.
  const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  at::Tensor want = at::zeros({in, out / 8}, at::kLong);
  for (std::int64_t r = 0; r < in; ++r)
    for (std::int64_t col = 0; col < out / 8; ++col) {
      std::uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<std::uint32_t>(codes[col * 8 + order[i]][r].item<std::int64_t>()) << (i * 4);
      want[r][col] = static_cast<std::int64_t>(static_cast<std::int32_t>(word));
    }
  const at::Tensor packed = awq::pack_gemm(codes.t());
  CHECK(at::equal(packed, want.to(at::kInt)));
  CHECK(at::equal(awq::unpack_gemm(packed, out), codes.t()));
  // A hand-built published layer: W[o, c] = (q[c, o] - z[c/16, o]) * s[c/16, o], s in float16.
  at::Tensor qz = at::zeros({groups, out / 8}, at::kLong);
  for (std::int64_t g = 0; g < groups; ++g)
    for (std::int64_t col = 0; col < out / 8; ++col) {
      std::uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<std::uint32_t>(zeros[col * 8 + order[i]][g].item<std::int64_t>()) << (i * 4);
      qz[g][col] = static_cast<std::int64_t>(static_cast<std::int32_t>(word));
    }
  const at::Tensor s16 = scales.t().contiguous().to(at::kHalf);
  NamedTensors t = {{"qweight", want.to(at::kInt)}, {"qzeros", qz.to(at::kInt)}, {"scales", s16}};
  CHECK(awq::recognizes({"qweight", "qzeros", "scales"}));
  CHECK(awq::recognizes({"qweight", "qzeros", "scales", "bias"}));
  CHECK_FALSE(awq::recognizes({"qweight", "qzeros", "scales", "g_idx"}));
  auto layer = awq::load({"l", t, nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
  if (!layer) FAIL(layer.error().message());
  at::Tensor expected = at::empty({out, in});
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t c = 0; c < in; ++c)
      expected[o][c] = static_cast<float>(codes[o][c].item<std::int64_t>() - zeros[o][c / 16].item<std::int64_t>()) *
                       s16[c / 16][o].item<float>();
  CHECK(at::equal((*layer)->weight(at::kFloat), expected));
  // qrun's own layers at 3 and 4 bits: state() + metadata load back identically.
  for (int bits : {3, 4}) {
    const at::Tensor c = codes.bitwise_and((1 << bits) - 1), z = zeros.bitwise_and((1 << bits) - 1);
    auto mine = awq::AwqLinear::from_codes(c, scales, z, at::Tensor(), bits, at::kFloat);
    auto back = awq::load({"l", mine->state(), mine->metadata(), at::kFloat, c10::Device(c10::kCPU)});
    if (!back) FAIL(back.error().message());
    CHECK(at::equal((*back)->weight(at::kFloat), mine->weight(at::kFloat)));
    CHECK(at::equal(mine->codes(), c.t()));
    CHECK(mine->storage().code_bits == bits);
    if (bits == 4) {  // as AutoAWQ reads it: the GEMM tensors alone, without qrun's metadata
      auto foreign = awq::load({"l", mine->state(), nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
      if (!foreign) FAIL(foreign.error().message());
      CHECK(at::equal((*foreign)->weight(at::kFloat), mine->weight(at::kFloat)));
    }
  }
}
