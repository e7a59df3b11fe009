// The calibration-based quantizers end to end with the real qrun on stories260K (pretrained Llama)
// and tiny-qwen2 (random Qwen2): checkpoints written by `qrun quantize` load back as their kinds,
// bit-identical to the in-process transform, with the calibration recorded; and quality against
// round-to-nearest at the same bits and groups, measured by `qrun eval --metric kl_divergence`
// (KL to the float model, and the variant's perplexity) on 8 windows of 256 WikiText-2 tokens.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/plugin.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::string& path) {
  auto b = registry().make_backend("hf", {{"path", path}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

struct Quality { double kl, ppl, ppl_base; };

Quality eval_kl(const std::string& model, const std::string& transform) {
  const std::string cmd = test::qrun_exe().string() + " --log-level warn eval --model " + test::asset(model).string() +
                          " --metric kl_divergence --data " +
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

void check_roundtrip(const std::string& quantizer, const std::string& params, const ParamMap& in_process,
                     const std::string& kind) {
  const auto dir = test::temp_dir(quantizer + "_ckpt");
  const std::string model = test::asset("models/stories260K").string();
  std::string cmd = test::qrun_exe().string() + " --log-level warn quantize --model " + model + " --quantizer " + quantizer;
  for (std::size_t a = 0, b; a < params.size(); a = b + 1) {
    b = params.find(',', a);
    if (b == std::string::npos) b = params.size();
    cmd += " --param " + params.substr(a, b - a);
  }
  auto r = test::run_command(cmd + " --out " + (dir / "q").string());
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  // The calibration is recorded with the file's hash.
  const auto log = nlohmann::json::parse(std::ifstream(dir / "q" / "qrun_quantize.json"));
  const auto& cal = log["transforms"].back()["details"]["calibration"];
  CHECK(cal["sha256"] == *sha256_file(test::source_dir() / "datasets/calibration.json"));
  CHECK(cal["tokens"].get<std::int64_t>() == cal["windows"].get<std::int64_t>() * cal["seq_len"].get<std::int64_t>());
  auto loaded = load_model((dir / "q").string());
  auto fresh = load_model(model);
  auto t = registry().make_transform(quantizer, in_process);
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  for (const auto& name : fresh->linear_names()) {
    CAPTURE(name);
    const bool quantized = name.find("layers.") != std::string::npos;
    REQUIRE(loaded->linear(name).kind() == (quantized ? kind : "dense"));
    const auto a = loaded->linear(name).state(), b = fresh->linear(name).state();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(at::equal(a[i].second, b[i].second));
    }
    CHECK(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
  }
  // Norm weights (AWQ folds its scales into them) are saved as the transform left them.
  const auto a = loaded->other_tensors(), b = fresh->other_tensors();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(at::equal(a[i].second, b[i].second));
  }
}

}  // namespace

TEST_CASE("gptq checkpoints of stories260K load back as gptq, equal to the in-process transform", "[gptq][model][slow]") {
  check_roundtrip("gptq", "bits=3,group_size=32,sym=false,act_order=true,n_samples=8,seq_len=128",
                  {{"bits", std::int64_t{3}}, {"group_size", std::int64_t{32}}, {"sym", false}, {"act_order", true},
                   {"n_samples", std::int64_t{8}}, {"seq_len", std::int64_t{128}}},
                  "gptq");
}

TEST_CASE("awq checkpoints of stories260K load back as awq, equal to the in-process transform", "[awq][model][slow]") {
  check_roundtrip("awq", "bits=4,group_size=-1,n_samples=4,seq_len=128",
                  {{"bits", std::int64_t{4}}, {"group_size", std::int64_t{-1}}, {"n_samples", std::int64_t{4}},
                   {"seq_len", std::int64_t{128}}},
                  "awq");
}

TEST_CASE("gptq and awq against round-to-nearest on stories260K and tiny-qwen2", "[gptq][awq][ppl][slow]") {
  const std::string g = ",group_size=-1,sym=false,n_samples=16,seq_len=256,true_sequential=false";
  for (const std::string model : {"models/stories260K", "models/tiny-qwen2"}) {
    CAPTURE(model);
    const Quality r3 = eval_kl(model, "rtn:bits=3,group_size=-1"), r4 = eval_kl(model, "rtn:bits=4,group_size=-1");
    const Quality g3 = eval_kl(model, "gptq:bits=3" + g), g4 = eval_kl(model, "gptq:bits=4" + g);
    const Quality g4a = eval_kl(model, "gptq:bits=4,act_order=true" + g);
    const Quality a4 = eval_kl(model, "awq:bits=4,group_size=-1,n_samples=8,seq_len=256");
    WARN(model << " (base ppl " << r3.ppl_base << "): KL / ppl  rtn3 " << r3.kl << " / " << r3.ppl << ", gptq3 " << g3.kl
               << " / " << g3.ppl << ", rtn4 " << r4.kl << " / " << r4.ppl << ", gptq4 " << g4.kl << " / " << g4.ppl
               << ", gptq4 act_order " << g4a.kl << " / " << g4a.ppl << ", awq4 " << a4.kl << " / " << a4.ppl);
    // Both methods minimise the layers' output error on calibration data: closer to the float model.
    CHECK(g3.kl < r3.kl);
    CHECK(g4.kl < r4.kl);
    CHECK(g4a.kl <= g4.kl);
    CHECK(a4.kl < r4.kl);
    if (model == "models/stories260K") {
      CHECK(g3.ppl < r3.ppl);
      CHECK(g4a.ppl < r4.ppl);
      // Not asserted: gptq4 without act_order and awq4 reach a lower KL than rtn4 but a higher
      // WikiText-2 perplexity on this TinyStories model (see the closing report of issue 15).
    } else {
      // A random model's perplexity is noise around its base value: closeness to the base is the measure.
      CHECK(std::fabs(g3.ppl - g3.ppl_base) < std::fabs(r3.ppl - r3.ppl_base));
      CHECK(std::fabs(g4.ppl - g4.ppl_base) < std::fabs(r4.ppl - r4.ppl_base));
    }
  }
}
