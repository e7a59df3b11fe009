// experiments/gguf_noise_defense.toml run by `qrun` on tiny-qwen2, reduced for CI (float32 on CPU,
// perplexity and KL on the first 128 WikiText-2 tokens in windows of 64): the quantization_box
// metric takes the ggml path (each gguf layer's own type; tiny-qwen2's rows of 64/176 values give
// llama.cpp's fallbacks q5_0/q4_0/q8_0 and f16), the flip rate is 0 without noise and grows with
// the std for Q4_K_M and Q2_K; the quantization_detector recognises the GGUF variants' weights as
// dequantized GGUF and the float baseline as not (a second small experiment written here).
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace qrun::test;

namespace {

const std::vector<std::string> kStds = {"0", "1e-4", "3e-4", "1e-3", "3e-3"};

std::string reduced_sets() {
  const std::vector<std::string> sets = {
      "model.path=" + asset("models/tiny-qwen2").string(), "model.dtype=float32", "model.device=cpu",
      "datasets[0].path=" + asset("datasets/wikitext-2-raw/wiki.test.raw").string(),
      "metrics[0].max_tokens=128", "metrics[0].max_length=64", "metrics[0].stride=32",
      "metrics[1].max_tokens=128", "metrics[1].max_length=64", "metrics[1].stride=32"};
  std::string s;
  for (const auto& x : sets) s += " --set '" + x + "'";
  return s;
}

std::string run_experiment(const std::filesystem::path& toml, const std::filesystem::path& out, const std::string& extra) {
  return "'" + qrun_exe().string() + "' run '" + toml.string() + "' --output '" + out.string() + "'" + extra + " 2>&1";
}

const nlohmann::json& metric_of(const nlohmann::json& results, const std::string& variant, const std::string& metric) {
  for (const auto& v : results["variants"])
    if (v["name"] == variant) return v["metrics"][metric];
  FAIL("no variant " << variant);
  return results;
}

double value_of(const nlohmann::json& metric, const std::string& name) {
  for (const auto& x : metric["values"])
    if (x["name"] == name && x["group"] == "") return x["value"].get<double>();
  FAIL("no value " << name);
  return 0;
}

}  // namespace

TEST_CASE("the reduced GGUF noise defense: flip rate 0 without noise, growing with the std", "[gguf_noise][quantization_box][cli][slow]") {
  const auto out = temp_dir("gguf_noise_defense");
  const auto r = run_command(run_experiment(source_dir() / "experiments/gguf_noise_defense.toml", out / "run", reduced_sets()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::ifstream f(out / "run" / "results.json");
  REQUIRE(f.good());
  const auto results = nlohmann::json::parse(f);
  REQUIRE(results["complete"] == true);
  CHECK(value_of(metric_of(results, "fp16", "quantization_box"), "flip_rate") == 0.0);
  for (const std::string mix : {"Q4_K_M", "Q2_K"}) {
    std::vector<double> rates;
    for (const auto& s : kStds) {
      const auto& m = metric_of(results, mix + "_noise_" + s, "quantization_box");
      rates.push_back(value_of(m, "flip_rate"));
      CHECK(m["details"]["method"] == "ggml");
      CHECK(m["details"]["layers_analysed"].get<int>() > 0);
      CHECK(value_of(m, "box_width_mean") > 0.0);
    }
    INFO(mix << " flip rates (%): " << rates[0] << " " << rates[1] << " " << rates[2] << " " << rates[3] << " " << rates[4]);
    CHECK(rates.front() == 0.0);  // std 0: the same ggml blocks as the baseline quantized alike
    for (std::size_t i = 1; i < rates.size(); ++i) CHECK(rates[i] >= rates[i - 1]);
    // std 3e-3 (weights of std ~0.02): measured 21 % (Q4_K_M: q5_0/q8_0 here) and 11 % (Q2_K: q4_0) of the codes
    CHECK(rates.back() > 5.0);
  }
  std::ifstream rep(out / "run" / "report.md");
  const std::string report((std::istreambuf_iterator<char>(rep)), std::istreambuf_iterator<char>());
  CHECK(report.find("flip rate") != std::string::npos);
}

TEST_CASE("the reduced GGUF noise defense is valid under --dry-run", "[gguf_noise][quantization_box][cli]") {
  const auto out = temp_dir("gguf_noise_defense_dry");
  const auto r = run_command(run_experiment(source_dir() / "experiments/gguf_noise_defense.toml", out / "run",
                                            reduced_sets() + " --dry-run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("valid; nothing was run (--dry-run)") != std::string::npos);
}

TEST_CASE("quantization_detector recognises GGUF variants of tiny-qwen2 and not its float baseline", "[gguf_noise][quantization_detector][cli]") {
  const auto out = temp_dir("gguf_detector");
  const auto toml = out / "detect.toml";
  std::ofstream(toml) << "[experiment]\nname = \"gguf_detect\"\nseed = 0\n"
                         "[model]\nuse = \"hf\"\npath = \"" << asset("models/tiny-qwen2").string()
                      << "\"\ndtype = \"float32\"\ndevice = \"cpu\"\n"
                         "[[variants]]\nname = \"f32\"\nbaseline = true\n"
                         "[[variants]]\nname = \"q8_0\"\ntransforms = [{use = \"gguf\", type = \"q8_0\", exclude = [\"down_proj\"]}]\n"
                         "[[variants]]\nname = \"Q4_K_M\"\ntransforms = [{use = \"gguf\", type = \"Q4_K_M\"}]\n"
                         "[[metrics]]\nuse = \"quantization_detector\"\n";
  const auto r = run_command(run_experiment(toml, out / "run", ""));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::ifstream f(out / "run" / "results.json");
  const auto results = nlohmann::json::parse(f);
  const auto& base = metric_of(results, "f32", "quantization_detector");
  CHECK(value_of(base, "dequantized") == 0.0);
  CHECK(value_of(base, "ggml_flagged_layers") == 0.0);
  for (const std::string v : {"q8_0", "Q4_K_M"}) {
    INFO(v);
    const auto& m = metric_of(results, v, "quantization_detector");
    CHECK(value_of(m, "dequantized") == 1.0);
    CHECK(value_of(m, "ggml_flagged_layers") >= 7.0);  // of tiny-qwen2's 14 (the f16 fallbacks are float)
    CHECK(value_of(m, "baseline_flagged_layers") == 0.0);
  }
}
