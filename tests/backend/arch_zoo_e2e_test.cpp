// End to end on every arch-zoo family with the real `qrun`: experiments/seed_study.toml (baseline,
// LLM.int8, NF4; perplexity, KL, prompt suite, size, speed) reduced through --set as
// tests/report/seed_study_e2e_test.cpp does, and `qrun quantize` + `qrun detect` on Phi-3's fused
// qkv_proj / gate_up_proj.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace qrun::test;
namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

double kl_mean(const nlohmann::json& variant) {
  return variant.at("metrics").at("kl_divergence").at("details").at("kl_nats").at("mean").get<double>();
}

}  // namespace

TEST_CASE("the seed study runs end to end on every arch-zoo family (reduced, CPU)", "[backend][arch_zoo][slow]") {
  const fs::path wiki = asset("datasets/wikitext-2-raw/wiki.test.raw");
  for (const std::string family : {"llama3", "mistral", "qwen3", "gemma2", "gemma3", "phi3", "qwen2_yarn"}) {
    INFO(family);
    const fs::path out = temp_dir("arch_zoo_seed_study_" + family);
    // Two prompt categories whose prompts fit qwen2_yarn's 128 positions with 8 new tokens.
    const std::vector<std::string> sets = {
        "model.path=" + asset("models/arch-zoo/" + family).string(), "model.dtype=float32", "model.device=cpu",
        "datasets[0].path=" + wiki.string(), "datasets[1].path=" + (source_dir() / "datasets/prompt_suite_96.json").string(),
        "metrics[0].max_length=128", "metrics[0].stride=64", "metrics[0].max_tokens=256",
        "metrics[1].max_length=128", "metrics[1].stride=64", "metrics[1].max_tokens=256",
        "metrics[2].categories=[\"code_generation\", \"mathematical_reasoning\"]", "metrics[2].limit_per_category=1",
        "metrics[2].max_new_tokens=8", "metrics[4].prompt_tokens=16", "metrics[4].new_tokens=4",
        "metrics[4].repetitions=2"};
    std::string cmd = "cd " + quote(source_dir().string()) + " && " + quote(qrun_exe().string()) +
                      " experiments/seed_study.toml";
    for (const auto& s : sets) cmd += " --set " + quote(s);
    cmd += " --output " + quote(out.string()) + " --fresh";
    const auto r = run_command(cmd);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(fs::exists(out / "report.md"));
    std::ifstream in(out / "results.json");
    const auto results = nlohmann::json::parse(in);
    CHECK(results.at("complete").get<bool>());
    const auto& variants = results.at("variants");
    REQUIRE(variants.size() == 3);
    for (const auto& v : variants) CHECK(v.at("complete").get<bool>());
    // The baseline against itself is 0; 4-bit NF4 moves the distribution more than LLM.int8.
    CHECK(kl_mean(variants[0]) == 0.0);
    CHECK(kl_mean(variants[1]) > 0.0);
    CHECK(kl_mean(variants[2]) > kl_mean(variants[1]));
  }
}

TEST_CASE("qrun quantize and qrun detect on Phi-3's fused projections", "[backend][arch_zoo][slow]") {
  const fs::path out = temp_dir("arch_zoo_phi3_nf4");
  fs::remove(out);
  const auto q = run_command(quote(qrun_exe().string()) + " quantize --model " +
                             quote(asset("models/arch-zoo/phi3").string()) + " --quantizer nf4 --out " + quote(out.string()));
  INFO(q.output);
  REQUIRE(q.exit_code == 0);
  CHECK(q.output.find("quantized 8 of 9 linear layers") != std::string::npos);  // lm_head kept
  const auto d = run_command(quote(qrun_exe().string()) + " detect --model " + quote(out.string()) + " --json");
  INFO(d.output);
  REQUIRE(d.exit_code == 0);
  const auto report = nlohmann::json::parse(d.output.substr(d.output.find('{')));
  bool qkv_flagged = false;
  for (const auto& layer : report.at("layers"))
    if (layer.at("name") == "model.layers.0.self_attn.qkv_proj") qkv_flagged = layer.at("flagged").get<bool>();
  CHECK(qkv_flagged);
}
