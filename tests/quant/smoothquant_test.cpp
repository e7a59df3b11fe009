// SmoothQuant (plugins/quantizers/smoothquant) against float64 transcriptions of the reference,
// mit-han-lab/smoothquant: smooth.py smooth_ln_fcs_llama_like (the scales and how they are folded)
// and fake_quant.py (quantize_weight_per_channel_absmax / per_tensor_absmax,
// quantize_activation_per_token_absmax / per_tensor_absmax, W8A8Linear.forward); end to end on
// stories260K: perplexity finite, and smoothing closer to the float model than plain W8A8.
#include "registry/registry.hpp"
#include "smoothquant/w8a8.hpp"
#include "support/assets.hpp"

#include <qrun/calibration.hpp>
#include <qrun/context.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

using namespace qrun;
namespace sq = qrun::smoothquant;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

using Mat = std::vector<std::vector<double>>;
Mat to_mat(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  Mat m(d.size(0), std::vector<double>(d.size(1)));
  for (std::int64_t i = 0; i < d.size(0); ++i)
    for (std::int64_t j = 0; j < d.size(1); ++j) m[i][j] = d[i][j].item<double>();
  return m;
}

// smooth.py: weight_scales = cat([fc.weight.abs().max(dim=0, keepdim=True)[0] ...]).max(dim=0)[0]
// .clamp(min=1e-5); scales = (act_scales.pow(alpha) / weight_scales.pow(1-alpha)).clamp(min=1e-5).
std::vector<double> oracle_scales(const std::vector<double>& act, const std::vector<Mat>& fcs, double alpha) {
  std::vector<double> s(act.size());
  for (std::size_t j = 0; j < act.size(); ++j) {
    double ws = 0;
    for (const auto& w : fcs)
      for (const auto& row : w) ws = std::max(ws, std::fabs(row[j]));
    ws = std::max(ws, 1e-5);
    s[j] = std::max(std::pow(act[j], alpha) / std::pow(ws, 1 - alpha), 1e-5);
  }
  return s;
}

// fake_quant.py: scales.clamp_(min=1e-5).div_(q_max); t.div_(scales).round_().mul_(scales).
double fq(double v, double amax) {
  const double s = std::max(amax, 1e-5) / 127.0;
  return std::nearbyint(v / s) * s;  // torch.round: half to even (the default rounding mode)
}
Mat weight_oracle(const Mat& w, bool per_channel) {
  double all = 0;
  for (const auto& r : w)
    for (double v : r) all = std::max(all, std::fabs(v));
  Mat q = w;
  for (auto& r : q) {
    double m = 0;
    for (double v : r) m = std::max(m, std::fabs(v));
    for (double& v : r) v = fq(v, per_channel ? m : all);
  }
  return q;
}
// rows [tokens][features]; per_token or per_tensor (over every row).
Mat act_oracle(const Mat& x, bool per_token) {
  double all = 0;
  for (const auto& r : x)
    for (double v : r) all = std::max(all, std::fabs(v));
  Mat q = x;
  for (auto& r : q) {
    double m = 0;
    for (double v : r) m = std::max(m, std::fabs(v));
    for (double& v : r) v = fq(v, per_token ? m : all);
  }
  return q;
}
Mat linear_oracle(const Mat& x, const Mat& w, const std::vector<double>& b) {
  Mat y(x.size(), std::vector<double>(w.size()));
  for (std::size_t t = 0; t < x.size(); ++t)
    for (std::size_t o = 0; o < w.size(); ++o) {
      double acc = b.empty() ? 0.0 : b[o];
      for (std::size_t i = 0; i < x[t].size(); ++i) acc += x[t][i] * w[o][i];
      y[t][o] = acc;
    }
  return y;
}

}  // namespace

TEST_CASE("smoothing scales are smooth.py's act^alpha / w^(1-alpha) with its clamps", "[smoothquant]") {
  at::manual_seed(1);
  const std::int64_t in = 48;
  at::Tensor act = at::rand({in}) * 2;
  act[3] = 60.0, act[17] = 0.0;  // an outlier channel and a dead one (clamped to 1e-5)
  std::vector<at::Tensor> ws = {at::randn({32, in}) * 0.05, at::randn({16, in}) * 0.05, at::randn({16, in}) * 0.05};
  for (auto& w : ws) w.select(1, 9).zero_();  // a column zero in every layer: weight scale clamped to 1e-5
  for (double alpha : {0.5, 0.8, 0.0, 1.0}) {
    CAPTURE(alpha);
    std::vector<double> a(in);
    for (std::int64_t j = 0; j < in; ++j) a[j] = act[j].item<double>();
    const auto expect = oracle_scales(a, {to_mat(ws[0]), to_mat(ws[1]), to_mat(ws[2])}, alpha);
    const at::Tensor got = sq::smoothing_scales(act, ws, alpha);
    REQUIRE(got.scalar_type() == at::kFloat);
    for (std::int64_t j = 0; j < in; ++j) {
      CAPTURE(j);
      CHECK(got[j].item<double>() == Approx(expect[j]).epsilon(2e-6));
    }
  }
}

TEST_CASE("W8A8Linear is fake_quant.py's W8A8Linear: int8 weights and activations, float64 oracle", "[smoothquant]") {
  at::manual_seed(2);
  const std::int64_t out = 24, in = 40;
  at::Tensor w = at::randn({out, in}) * 0.1;
  w[5][7] = 1.5;
  const at::Tensor b = at::randn({out});
  at::Tensor x = at::randn({2, 3, in});
  x.select(2, 11).mul_(40.0);  // an outlier channel
  const Mat xm = to_mat(x.reshape({-1, in}));
  std::vector<double> bv(out);
  for (std::int64_t o = 0; o < out; ++o) bv[o] = b[o].item<double>();
  for (bool per_channel : {true, false})
    for (const std::string act : {"per_token", "per_tensor"})
      for (bool qout : {false, true}) {
        CAPTURE(per_channel, act, qout);
        const auto q = sq::quantize_weight(w, per_channel);
        CHECK(q.codes.scalar_type() == at::kChar);
        CHECK(q.codes.abs().max().item<int>() == 127);
        const sq::W8A8Linear l(q.codes, q.scale, b, sq::act_from_string(act), qout, {}, {}, at::kFloat);
        const Mat wq = weight_oracle(to_mat(w), per_channel);
        Mat y = linear_oracle(act_oracle(xm, act == "per_token"), wq, bv);
        if (qout) y = act_oracle(y, act == "per_token");
        const at::Tensor got_w = l.weight(at::kFloat), got = l.forward(x).reshape({-1, out});
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t i = 0; i < in; ++i) REQUIRE(got_w[o][i].item<double>() == Approx(wq[o][i]).margin(1e-7));
        for (std::size_t t = 0; t < y.size(); ++t)
          for (std::int64_t o = 0; o < out; ++o) REQUIRE(got[t][o].item<double>() == Approx(y[t][o]).margin(2e-4));
        CHECK(l.storage().bytes == out * in + 4 * (per_channel ? out : 1) + 4 * out);
      }
  // Static: one calibrated scale, values beyond it clamped to [-128, 127] codes.
  const auto q = sq::quantize_weight(w, true);
  const at::Tensor in_s = at::full({1}, 2.0f / 127.0f);
  const sq::W8A8Linear l(q.codes, q.scale, b, sq::Act::fixed, false, in_s, {}, at::kFloat);
  Mat xs = xm;
  const double s = static_cast<double>(2.0f / 127.0f);
  for (auto& r : xs)
    for (double& v : r) v = std::clamp(std::nearbyint(v / s), -128.0, 127.0) * s;
  const Mat y = linear_oracle(xs, weight_oracle(to_mat(w), true), bv);
  const at::Tensor got = l.forward(x).reshape({-1, out});
  for (std::size_t t = 0; t < y.size(); ++t)
    for (std::int64_t o = 0; o < out; ++o) REQUIRE(got[t][o].item<double>() == Approx(y[t][o]).margin(2e-4));
}

namespace {

std::unique_ptr<Model> load_model(const std::string& path) {
  auto b = registry().make_backend("hf", {{"path", path}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

at::Tensor other(Model& m, const std::string& name) {
  for (auto& [n, t] : m.other_tensors())
    if (n == name) return t.clone();
  FAIL("no tensor " << name);
  return {};
}

}  // namespace

TEST_CASE("smoothquant on stories260K folds smooth.py's scales into the norms and q/k/v, gate/up", "[smoothquant][model]") {
  c10::InferenceMode guard;
  const std::string model = test::asset("models/stories260K").string();
  const std::string cal = (test::source_dir() / "datasets/calibration.json").string();
  auto base = load_model(model), smoothed = load_model(model);
  // The oracle's activation maxima: max |x| per channel at q_proj / gate_proj inputs on the same windows.
  auto data = calibration::load({cal, 4, 128, 42, calibration::Sampling::blocks}, base->tokenizer());
  REQUIRE(data.ok());
  std::map<std::string, at::Tensor> amax;
  std::vector<calibration::Observer> obs;
  for (const auto& n : base->linear_names())
    if (n.ends_with("q_proj") || n.ends_with("gate_proj"))
      obs.push_back({n, [&amax, n](const at::Tensor& x, const at::Tensor&) {
                       const at::Tensor m = x.reshape({-1, x.size(-1)}).abs().amax(0).to(at::kDouble);
                       amax[n] = amax.count(n) ? at::maximum(amax[n], m) : m;
                     }});
  REQUIRE(calibration::run(*base, data->windows, obs, {8, false}).ok());
  auto t = registry().make_transform("smoothquant", {{"alpha", 0.5}, {"n_samples", std::int64_t{4}},
                                                     {"seq_len", std::int64_t{128}}, {"calibration", cal}});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto rep = (*t)->apply(*smoothed, *ctx);
  if (!rep) FAIL(rep.error().message());
  for (int l = 0; l < 5; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
        {"input_layernorm.weight", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
        {"post_attention_layernorm.weight", {"mlp.gate_proj", "mlp.up_proj"}}};
    for (const auto& [norm, layers] : groups) {
      CAPTURE(p + norm);
      std::vector<Mat> fcs;
      for (const auto& n : layers) fcs.push_back(to_mat(base->linear(p + n).weight(at::kFloat)));
      const at::Tensor a = amax.at(p + layers[0]);
      std::vector<double> av(a.numel());
      for (std::int64_t j = 0; j < a.numel(); ++j) av[j] = a[j].item<double>();
      const auto s = oracle_scales(av, fcs, 0.5);
      const at::Tensor n0 = other(*base, p + norm), n1 = other(*smoothed, p + norm);
      for (std::int64_t j = 0; j < n0.numel(); ++j) CHECK(n1[j].item<double>() == Approx(n0[j].item<double>() / s[j]).epsilon(1e-5));
      for (std::size_t k = 0; k < layers.size(); ++k) {  // W8 of W diag(s): within one int8 step of the oracle
        const LinearImpl& q = smoothed->linear(p + layers[k]);
        REQUIRE(q.kind() == "w8a8");
        Mat ws = fcs[k];
        for (auto& r : ws)
          for (std::size_t j = 0; j < r.size(); ++j) r[j] *= s[j];
        const Mat wq = weight_oracle(ws, true);
        const at::Tensor got = q.weight(at::kFloat);
        for (std::size_t o = 0; o < wq.size(); ++o) {
          double m = 0;
          for (double v : ws[o]) m = std::max(m, std::fabs(v));
          for (std::size_t j = 0; j < wq[o].size(); ++j)
            REQUIRE(std::fabs(got[o][j].item<double>() - wq[o][j]) <= m / 127.0 * 1.0001);
        }
      }
    }
  }
  const auto& sm = rep->details["smoothing"];
  REQUIRE(sm.size() == 10);
  for (const auto& g : sm) CHECK(g["act_absmax_after"].get<double>() < g["act_absmax_before"].get<double>());
}

namespace {

struct Quality { double kl, ppl, ppl_base; };

Quality eval_kl(const std::string& transform) {
  const std::string cmd = test::qrun_exe().string() + " --log-level warn eval --model " +
                          test::asset("models/stories260K").string() + " --metric kl_divergence --data " +
                          test::asset("datasets/wikitext-2-raw/wiki.test.raw").string() +
                          " --param n_ctx=256 --param max_windows=8 --json --transform " + transform;
  auto r = test::run_command(cmd);
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  std::map<std::string, double> v;
  for (const auto& x : j["result"]["values"]) v[x["name"].get<std::string>()] = x["value"].get<double>();
  return {v.at("kl_mean"), v.at("ppl_variant"), v.at("ppl_base")};
}

}  // namespace

TEST_CASE("smoothquant W8A8 on stories260K: finite perplexity, closer to float than plain W8A8", "[smoothquant][ppl][slow]") {
  const std::string cal = ",n_samples=16,seq_len=256,calibration=" + (test::source_dir() / "datasets/calibration.json").string();
  for (const std::string act : {"per_token", "per_tensor"}) {
    CAPTURE(act);
    const Quality s = eval_kl("smoothquant:act_quant=" + act + cal);
    const Quality n = eval_kl("smoothquant:smooth=false,act_quant=" + act + cal);
    WARN("stories260K W8A8 " << act << ": float ppl " << s.ppl_base << "; smoothquant a=0.5 ppl " << s.ppl << " KL "
                             << s.kl << "; plain W8A8 ppl " << n.ppl << " KL " << n.kl);
    CHECK(std::isfinite(s.ppl));
    CHECK(std::isfinite(n.ppl));
    CHECK(s.kl < n.kl);
    // Measured (CPU, float32): per_token float 91.18, smoothquant 91.24 (KL 0.00321), plain 91.36
    // (KL 0.00330); per_tensor smoothquant 93.28 (KL 0.0198), plain 92.72 (KL 0.0203). Per tensor,
    // smoothing lowers the KL but not the perplexity gap on this 260K-parameter model, so the
    // perplexity ordering is asserted for per-token activations only.
    if (act == "per_token") CHECK(std::fabs(s.ppl - s.ppl_base) < std::fabs(n.ppl - n.ppl_base));
  }
}

TEST_CASE("smoothquant checkpoints load back as w8a8, bit-identical, with the smoothed norms", "[smoothquant][format][slow]") {
  const auto dir = test::temp_dir("smoothquant_ckpt");
  const std::string model = test::asset("models/stories260K").string();
  const std::string cal = (test::source_dir() / "datasets/calibration.json").string();
  const std::string cmd = test::qrun_exe().string() + " --log-level warn quantize --model " + model +
                          " --quantizer smoothquant --param act_quant=static --param quantize_bmm_input=true"
                          " --param n_samples=4 --param seq_len=128 --param calibration=" + cal +
                          " --out " + (dir / "q").string();
  auto r = test::run_command(cmd);
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  auto loaded = load_model((dir / "q").string()), fresh = load_model(model);
  auto t = registry().make_transform("smoothquant", {{"act_quant", std::string("static")}, {"quantize_bmm_input", true},
                                                     {"n_samples", std::int64_t{4}}, {"seq_len", std::int64_t{128}},
                                                     {"calibration", cal}});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  const at::Tensor x = at::randn({1, 3, 64});
  for (const auto& name : fresh->linear_names()) {
    CAPTURE(name);
    REQUIRE(loaded->linear(name).kind() == fresh->linear(name).kind());
    CHECK(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
    const auto a = loaded->linear(name).state(), b = fresh->linear(name).state();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i].second, b[i].second));
  }
  const auto a = loaded->other_tensors(), b = fresh->other_tensors();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(at::equal(a[i].second, b[i].second));
}
