// FP8 E4M3/E5M2, MXFP4 and NVFP4 (plugins/quantizers/{fp8,mxfp4,nvfp4}): codes and scales against
// an independent transcription of the specifications below (values listed from the format
// definition, the nearest one picked by search, ties to the even code, saturation at the largest
// finite value), on tensors with subnormals, saturation, ties and all-zero blocks; and the
// plugins' layers through the registry, their checkpoints' tensors and loaders.
#include "fp8/fp4_quant.hpp"
#include "model/tensor_model.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

struct Spec { int e, m, bias; bool ieee_special; bool fn_nan; };  // fn_nan: S.1111.111 is NaN (e4m3fn)
const Spec kSpecE4M3{4, 3, 7, false, true}, kSpecE5M2{5, 2, 15, true, false}, kSpecE2M1{2, 1, 1, false, false};

// Positive finite (code, value) pairs from the definition: e == 0: m / 2^M * 2^(1 - bias);
// else (1 + m / 2^M) * 2^(e - bias); E5M2's e == 31 and E4M3's (15, 7) are not finite.
std::vector<std::pair<int, double>> finite_values(const Spec& s) {
  std::vector<std::pair<int, double>> v;
  for (int e = 0; e < (1 << s.e); ++e)
    for (int m = 0; m < (1 << s.m); ++m) {
      if (s.ieee_special && e == (1 << s.e) - 1) continue;
      if (s.fn_nan && e == (1 << s.e) - 1 && m == (1 << s.m) - 1) continue;
      const double val = e == 0 ? m / std::pow(2.0, s.m) * std::pow(2.0, 1 - s.bias)
                                : (1 + m / std::pow(2.0, s.m)) * std::pow(2.0, e - s.bias);
      v.emplace_back((e << s.m) | m, val);
    }
  return v;  // increasing
}

// Round to nearest, ties to the even code, saturate at the largest finite value; sign bit copied.
int spec_encode(double x, const Spec& s) {
  const auto vals = finite_values(s);
  const double a = std::fabs(x);
  int code = vals.back().first;
  if (a < vals.back().second) {
    for (std::size_t i = 0; i + 1 < vals.size(); ++i) {
      if (a >= vals[i].second && a <= vals[i + 1].second) {
        const double dl = a - vals[i].second, dh = vals[i + 1].second - a;
        code = dl < dh ? vals[i].first : dh < dl ? vals[i + 1].first : ((vals[i].first & 1) == 0 ? vals[i].first : vals[i + 1].first);
        break;
      }
    }
  }
  return (std::signbit(x) ? 1 << (s.e + s.m) : 0) | code;
}
double spec_value(int code, const Spec& s) {
  for (const auto& [c, v] : finite_values(s))
    if (c == (code & ((1 << (s.e + s.m)) - 1))) return (code >> (s.e + s.m)) & 1 ? -v : v;
  return std::nan("");
}

// Test values: every finite value, every midpoint (a tie), just off each midpoint, beyond the
// maximum, zeros, tiny values, all with both signs.
std::vector<float> probe_values(const Spec& s) {
  const auto vals = finite_values(s);
  std::vector<float> out;
  for (std::size_t i = 0; i < vals.size(); ++i) {
    out.push_back(static_cast<float>(vals[i].second));
    if (i + 1 < vals.size()) {
      const double mid = (vals[i].second + vals[i + 1].second) / 2;
      out.push_back(static_cast<float>(mid));
      out.push_back(std::nextafter(static_cast<float>(mid), 0.0f));
      out.push_back(std::nextafter(static_cast<float>(mid), 1e30f));
    }
  }
  const double mx = vals.back().second;
  for (double f : {1.03, 1.0625, 1.2, 10.0, 1e6}) out.push_back(static_cast<float>(mx * f));
  out.push_back(std::numeric_limits<float>::infinity());
  out.push_back(std::numeric_limits<float>::denorm_min());
  out.push_back(static_cast<float>(vals[1].second / 3));
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) out.push_back(-out[i]);
  out.push_back(0.0f);
  out.push_back(-0.0f);
  return out;
}

at::Tensor apply_quantizer(std::unique_ptr<Model>& model, const std::string& name, const at::Tensor& w, const ParamMap& p) {
  model = make_tensor_model({{"layer", w}}, "fixture");
  auto t = registry().make_transform(name, p);
  if (!t) FAIL(t.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(*model, *ctx);
  if (!r) FAIL(r.error().message());
  return model->linear("layer").weight(at::kFloat);
}

// The layer rebuilt by its kind's loader from state() and metadata() equals the original.
void check_reload(const LinearImpl& l) {
  const LinearKindInfo* k = find_linear_kind(l.kind());
  REQUIRE(k != nullptr);
  auto back = k->load(LinearState{"layer", l.state(), l.metadata(), at::kFloat, c10::Device(c10::kCPU)});
  if (!back) FAIL(back.error().message());
  CHECK(at::equal((*back)->weight(at::kFloat), l.weight(at::kFloat)));
}

at::Tensor state_of(const LinearImpl& l, const std::string& suffix) {
  for (const auto& [n, t] : l.state())
    if (n == suffix) return t;
  FAIL("no " << suffix);
  return {};
}

}  // namespace

TEST_CASE("minifloat codes are the specification's nearest value, ties to even, saturating", "[fp8][fp4]") {
  const std::pair<const minifloat::Format*, Spec> formats[] = {
      {&minifloat::kE4M3, kSpecE4M3}, {&minifloat::kE5M2, kSpecE5M2}, {&minifloat::kE2M1, kSpecE2M1}};
  for (const auto& [f, s] : formats) {
    CAPTURE(s.e, s.m);
    const auto probes = probe_values(s);
    for (float x : probes) {
      CAPTURE(x);
      const int want = spec_encode(static_cast<double>(x), s);
      CHECK(static_cast<int>(minifloat::encode(static_cast<double>(x), *f)) == want);
      CHECK(minifloat::decode(static_cast<std::uint8_t>(want), *f) == spec_value(want, s));
    }
  }
  CHECK(finite_values(kSpecE4M3).back().second == 448.0);
  CHECK(finite_values(kSpecE5M2).back().second == 57344.0);
  CHECK(std::isnan(minifloat::decode(0x7F, minifloat::kE4M3)));
  CHECK(std::isinf(minifloat::decode(0x7C, minifloat::kE5M2)));
}

TEST_CASE("fp8 layers: amax/448 or amax/57344 scales per tensor or channel, codes of w/scale", "[fp8]") {
  c10::InferenceMode guard;
  at::manual_seed(41);
  at::Tensor w = at::randn({6, 40}) * 0.02;
  w[0][1] = 3.5f;                     // outlier
  w[1].zero_();                       // a zero row: scale eps
  w[2] *= 1e-4;                       // subnormal codes after scaling by the tensor's amax
  for (const char* fmt : {"e4m3", "e5m2"})
    for (const char* gran : {"tensor", "channel"}) {
      CAPTURE(fmt, gran);
      const Spec s = std::string(fmt) == "e4m3" ? kSpecE4M3 : kSpecE5M2;
      const double fmax = finite_values(s).back().second;
      std::unique_ptr<Model> m;
      (void)apply_quantizer(m, "fp8", w, {{"format", std::string(fmt)}, {"granularity", std::string(gran)},
                                          {"exclude", std::vector<std::string>{}}});
      const LinearImpl& l = m->linear("layer");
      const at::Tensor codes = state_of(l, "weight"), scale = state_of(l, "weight_scale");
      for (std::int64_t r = 0; r < 6; ++r) {
        float amax = 0;  // the row's (channel) or the tensor's
        for (std::int64_t c = 0; c < 40; ++c) amax = std::max(amax, std::fabs(w[r][c].item<float>()));
        if (std::string(gran) == "tensor") amax = w.abs().max().item<float>();
        float sc = amax / static_cast<float>(fmax);
        if (sc == 0) sc = std::numeric_limits<float>::epsilon();
        CHECK(scale.reshape({-1})[std::string(gran) == "tensor" ? 0 : r].item<float>() == sc);
        for (std::int64_t c = 0; c < 40; ++c) {
          const int want = spec_encode(static_cast<double>(w[r][c].item<float>() / sc), s);
          CHECK(codes[r][c].item<int>() == want);
          CHECK(l.weight(at::kFloat)[r][c].item<float>() == static_cast<float>(spec_value(want, s)) * sc);
        }
      }
      CHECK(l.storage().code_bits == 8);
      check_reload(l);
    }
}

TEST_CASE("mxfp4: E8M0 exponent floor(log2 amax) - 2, E2M1 elements saturating at 6 (OCP MX v1.0 6.3)", "[fp4][mxfp4]") {
  c10::InferenceMode guard;
  at::manual_seed(42);
  at::Tensor w = at::randn({3, 128}) * 0.1;
  w[0].slice(0, 32, 64).zero_();                           // all-zero block: code 0
  w[0][70] = 1.9f;                                         // amax mantissa 1.9: elements above 6 * 2^e saturate
  w[0][71] = 1.8f;
  w[1].slice(0, 0, 32).mul_(1e-38f);                       // float32 subnormals
  for (int j = 0; j < 8; ++j) w[2][96 + j] = 0.25f * j + 0.125f;  // ties after scaling (amax 1.875: e = -2)
  const auto q = minifloat::quantize_mxfp4(w);
  for (std::int64_t r = 0; r < 3; ++r)
    for (std::int64_t b = 0; b < 4; ++b) {
      double amax = 0;
      for (std::int64_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<double>(w[r][b * 32 + j].item<float>())));
      const int e = amax == 0 ? -127 : std::max(-127, static_cast<int>(std::floor(std::log2(amax))) - 2);
      CAPTURE(r, b, amax);
      CHECK(q.scales[r][b].item<int>() == e + 127);
      for (std::int64_t j = 0; j < 32; ++j) {
        const double v = static_cast<double>(w[r][b * 32 + j].item<float>()) / std::ldexp(1.0, e);
        CHECK(q.codes[r][b * 32 + j].item<int>() == spec_encode(v, kSpecE2M1));
      }
    }
  CHECK(q.codes[0][70].item<int>() == 7);  // 1.9 / 2^-2 = 7.6 -> 6 (code 0b0111)
  std::unique_ptr<Model> m;
  const at::Tensor deq = apply_quantizer(m, "mxfp4", w, {{"exclude", std::vector<std::string>{}}});
  const LinearImpl& l = m->linear("layer");
  CHECK(at::equal(state_of(l, "weight_scale"), q.scales));
  CHECK(at::equal(minifloat::unpack_nibbles(state_of(l, "weight_packed")), q.codes));
  CHECK(deq[0][70].item<float>() == 6.0f * 0.25f);
  CHECK(l.storage().bytes == 3 * 64 + 3 * 4);
  check_reload(l);
}

TEST_CASE("nvfp4: global scale 448*6/amax, E4M3 block scales of 16, E2M1 elements of v/(S/G)", "[fp4][nvfp4]") {
  c10::InferenceMode guard;
  at::manual_seed(43);
  at::Tensor w = at::randn({4, 64}) * 0.05;
  w[0][0] = 2.0f;                              // the tensor's amax
  w[1].slice(0, 16, 32).zero_();               // zero block: S = 0 -> 0.125
  w[2].slice(0, 0, 16).mul_(2e-4f);            // block scale in E4M3's subnormal range
  const auto q = minifloat::quantize_nvfp4(w);
  const float G = static_cast<float>(448.0 * 6.0) / 2.0f;
  CHECK(q.global.item<float>() == G);
  for (std::int64_t r = 0; r < 4; ++r)
    for (std::int64_t b = 0; b < 4; ++b) {
      float amax = 0;
      for (std::int64_t j = 0; j < 16; ++j) amax = std::max(amax, std::fabs(w[r][b * 16 + j].item<float>()));
      const float s = G * (amax / 6.0f);
      int s8 = spec_encode(static_cast<double>(std::min(s, 448.0f)), kSpecE4M3);
      if (spec_value(s8, kSpecE4M3) == 0) s8 = spec_encode(0.125, kSpecE4M3);
      CAPTURE(r, b, amax);
      CHECK(q.scales[r][b].item<int>() == s8);
      const float eff = static_cast<float>(spec_value(s8, kSpecE4M3)) / G;
      for (std::int64_t j = 0; j < 16; ++j)
        CHECK(q.codes[r][b * 16 + j].item<int>() == spec_encode(static_cast<double>(w[r][b * 16 + j].item<float>() / eff), kSpecE2M1));
    }
  std::unique_ptr<Model> m;
  (void)apply_quantizer(m, "nvfp4", w, {{"exclude", std::vector<std::string>{}}});
  const LinearImpl& l = m->linear("layer");
  CHECK(at::equal(state_of(l, "weight_scale"), q.scales));
  CHECK(state_of(l, "weight_global_scale").item<float>() == G);
  CHECK(l.storage().bytes == 4 * 32 + 4 * 4 + 4);
  check_reload(l);
  // A layer of an nvfp4-pack-quantized checkpoint (no qrun metadata) is recognised by its names.
  const LinearKindInfo* k = find_linear_kind("nvfp4");
  REQUIRE(k->recognizes);
  CHECK(k->recognizes({"weight_packed", "weight_scale", "weight_global_scale", "input_global_scale"}));
  CHECK_FALSE(k->recognizes({"weight_packed", "weight_scale", "weight_shape"}));
}
