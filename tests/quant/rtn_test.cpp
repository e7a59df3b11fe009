// The rtn reference plugin (plugins/quantizers/rtn): codes and dequantized weights against a
// direct float32 transcription of AWQ's pseudo_quantize_tensor (the test oracle below), packing
// at every width 2-8, honest storage, a checkpoint that loads back bit-identically, and
// WikiText-2 perplexity on stories260K ordered as quantization noise orders it.
#include "model/tensor_model.hpp"
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

// Oracle (mit-han-lab/llm-awq awq/quantize/quantizer.py pseudo_quantize_tensor), one group of
// float32 values, every operation in float32 as torch does it: round half to even.
std::vector<float> oracle_group(const std::vector<float>& w, int bits, bool symmetric) {
  std::vector<float> out(w.size());
  if (symmetric) {
    float amax = 0;
    for (float x : w) amax = std::max(amax, std::fabs(x));
    const float max_int = static_cast<float>(std::pow(2.0, bits - 1) - 1);
    const float s = std::max(amax, 1e-5f) / max_int;
    for (std::size_t i = 0; i < w.size(); ++i)
      out[i] = std::min(std::max(std::nearbyint(w[i] / s), -max_int - 1), max_int) * s;
  } else {
    float lo = w[0], hi = w[0];
    for (float x : w) lo = std::min(lo, x), hi = std::max(hi, x);
    const float max_int = static_cast<float>(std::pow(2.0, bits) - 1);
    const float s = std::max(hi - lo, 1e-5f) / max_int;
    const float z = std::min(std::max(-std::nearbyint(lo / s), 0.0f), max_int);
    for (std::size_t i = 0; i < w.size(); ++i)
      out[i] = (std::min(std::max(std::nearbyint(w[i] / s) + z, 0.0f), max_int) - z) * s;
  }
  return out;
}

// A weight with outliers, exact ties at x.5 steps, a constant group and a zero group.
at::Tensor fixture_weight(std::int64_t out, std::int64_t in) {
  at::Tensor w = at::randn({out, in}, at::TensorOptions().dtype(at::kFloat)) * 0.05;
  w[0][3] = 1.5f;                                       // outlier
  w[1].slice(0, 0, 8).fill_(0.25f);                     // constant group
  w[2].slice(0, 0, 8).zero_();                          // zero group
  for (std::int64_t j = 0; j < 8; ++j) w[3][j] = 0.5f * static_cast<float>(j);  // ties after scaling
  return w;
}

Model& quantize_tensors(std::unique_ptr<Model>& model, const at::Tensor& w, const ParamMap& params) {
  model = make_tensor_model({{"layer", w}}, "fixture");
  auto t = registry().make_transform("rtn", params);
  if (!t) FAIL(t.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(*model, *ctx);
  if (!r) FAIL(r.error().message());
  return *model;
}

double eval_ppl(const std::string& extra) {
  const std::string cmd = test::qrun_exe().string() + " --log-level warn eval --model " +
                          test::asset("models/stories260K").string() + " --metric perplexity --data " +
                          test::asset("datasets/wikitext-2-raw/wiki.test.raw").string() +
                          " --param protocol=chunks --param n_ctx=256 --param max_windows=16 --json" + extra;
  auto r = test::run_command(cmd);
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  for (const auto& v : j["result"]["values"])
    if (v["name"] == "ppl") return v["value"].get<double>();
  FAIL("no ppl value");
  return 0;
}

}  // namespace

TEST_CASE("rtn dequantized weights equal the AWQ pseudo-quantization oracle at every width", "[quant][rtn]") {
  c10::InferenceMode guard;
  at::manual_seed(7);
  const at::Tensor w = fixture_weight(6, 32);
  for (int bits = 2; bits <= 8; ++bits) {
    for (bool symmetric : {true, false}) {
      for (std::int64_t group : {std::int64_t{8}, std::int64_t{-1}}) {
        CAPTURE(bits, symmetric, group);
        std::unique_ptr<Model> m;
        Model& q = quantize_tensors(m, w, {{"bits", std::int64_t{bits}}, {"group_size", group},
                                           {"symmetric", symmetric}, {"exclude", std::vector<std::string>{}}});
        const LinearImpl& layer = q.linear("layer");
        REQUIRE(layer.kind() == "rtn");
        const at::Tensor got = layer.weight(at::kFloat).contiguous();
        const std::int64_t g = group == -1 ? 32 : group;
        for (std::int64_t r = 0; r < 6; ++r) {
          for (std::int64_t c0 = 0; c0 < 32; c0 += g) {
            std::vector<float> vals(static_cast<std::size_t>(g));
            for (std::int64_t j = 0; j < g; ++j) vals[j] = w[r][c0 + j].item<float>();
            const auto want = oracle_group(vals, bits, symmetric);
            for (std::int64_t j = 0; j < g; ++j) REQUIRE(got[r][c0 + j].item<float>() == want[j]);
          }
        }
        // Storage: ceil(n * bits / 8) code bytes + float32 scales (+ uint8 zeros).
        const StorageInfo s = layer.storage();
        const std::int64_t groups = 6 * (32 / g);
        CHECK(s.code_bits == bits);
        CHECK(s.bytes == (6 * 32 * bits + 7) / 8 + groups * 4 + (symmetric ? 0 : groups));
      }
    }
  }
}

TEST_CASE("rtn refuses a group size that does not divide the input columns", "[quant][rtn]") {
  std::unique_ptr<Model> m = make_tensor_model({{"layer", at::ones({4, 24})}}, "fixture");
  auto t = registry().make_transform("rtn", {{"group_size", std::int64_t{16}}, {"exclude", std::vector<std::string>{}}});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(*m, *ctx);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("group_size") != std::string::npos);
}

TEST_CASE("rtn checkpoints of stories260K load back bit-identically", "[quant][rtn][model]") {
  const auto dir = test::temp_dir("rtn_ckpt");
  const std::string model = test::asset("models/stories260K").string();
  auto r = test::run_command(test::qrun_exe().string() + " --log-level warn quantize --model " + model +
                             " --quantizer rtn --param bits=3 --param group_size=4 --out " + (dir / "q").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto load = [&](const std::string& path) {
    auto b = registry().make_backend("hf", {{"path", path}});
    REQUIRE(b.ok());
    auto ctx = make_default_context(0, c10::Device(c10::kCPU));
    auto m = (*b)->load(*ctx);
    if (!m) FAIL(m.error().message());
    return std::move(*m);
  };
  auto loaded = load((dir / "q").string());
  auto fresh = load(model);
  auto t = registry().make_transform("rtn", {{"bits", std::int64_t{3}}, {"group_size", std::int64_t{4}}});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  REQUIRE(loaded->linear_names() == fresh->linear_names());
  for (const auto& name : fresh->linear_names()) {
    CAPTURE(name);
    REQUIRE(loaded->linear(name).kind() == "rtn");
    const auto a = loaded->linear(name).state(), b = fresh->linear(name).state();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      REQUIRE(a[i].first == b[i].first);
      REQUIRE(at::equal(a[i].second, b[i].second));
    }
    REQUIRE(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
  }
}

TEST_CASE("rtn perplexity on stories260K: 8-bit within 0.1 % of float, fewer bits worse", "[quant][rtn][ppl]") {
  // Symmetric per-row RTN (group_size -1), 16 chunks of 256 tokens of wiki.test.raw. Measured
  // (2032 tokens): float 117.205, rtn8 117.25 (+0.04 %), rtn4 140.9, rtn2 10962. Asymmetric per-row
  // 8-bit is 117.342 (+0.12 %): AWQ's zero point is rounded to the grid, so a row's range is
  // covered by one step less. Groups of 4 (the only size dividing stories260K's 64 and 172
  // columns) are worse still for asymmetric codes: AWQ's zero point is clamped to [0, 2^b - 1],
  // so a group whose values are all of one sign is clipped (the reference's behaviour, kept).
  const double fp = eval_ppl("");
  const double b8 = eval_ppl(" --transform rtn:bits=8,group_size=-1,symmetric=true");
  const double b4 = eval_ppl(" --transform rtn:bits=4,group_size=-1,symmetric=true");
  const double b2 = eval_ppl(" --transform rtn:bits=2,group_size=-1,symmetric=true");
  const double a8 = eval_ppl(" --transform rtn:bits=8,group_size=-1");
  const double a4 = eval_ppl(" --transform rtn:bits=4,group_size=-1");
  CAPTURE(fp, b8, b4, b2, a8, a4);
  CHECK(std::fabs(b8 / fp - 1) <= 1e-3);
  CHECK(b4 > b8);
  CHECK(b2 > b4);
  CHECK(std::fabs(a8 / fp - 1) <= 2e-3);
  CHECK(a4 > a8);
}

TEST_CASE("a failing qrun quantize leaves no output and no temporary behind", "[quant][rtn][cli]") {
  // stories260K's layers have 64 and 172 input columns: group_size 128 divides neither.
  const auto dir = test::temp_dir("rtn_fail");
  const auto out = dir / "q";
  auto r = test::run_command(test::qrun_exe().string() + " --log-level warn quantize --model " +
                             test::asset("models/stories260K").string() +
                             " --quantizer rtn --param group_size=128 --out " + out.string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("group_size") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
  for (const auto& e : std::filesystem::directory_iterator(dir))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}
