// experiments/noise_defense_sweep.toml run by `qrun` on tiny-qwen2, reduced for CI (float32 on
// CPU, perplexity and KL on the first 128 WikiText-2 tokens in windows of 64): the box flip rate
// must grow with the noise std for int8 and for nf4, and the report must show it.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace qrun::test;

namespace {

const std::vector<std::string> kStds = {"0", "1e-4", "3e-4", "1e-3", "3e-3"};

std::string sweep_command(const std::filesystem::path& out, const std::string& extra = "") {
  const std::vector<std::string> sets = {
      "model.path=" + asset("models/tiny-qwen2").string(),
      "model.dtype=float32",
      "model.device=cpu",
      "datasets[0].path=" + asset("datasets/wikitext-2-raw/wiki.test.raw").string(),
      // perplexity and KL: the first 128 tokens in windows of 64 (stride 32), not the whole file in 1024
      "metrics[0].max_tokens=128", "metrics[0].max_length=64", "metrics[0].stride=32",
      "metrics[1].max_tokens=128", "metrics[1].max_length=64", "metrics[1].stride=32"};
  std::string cmd = "'" + qrun_exe().string() + "' run '" + (source_dir() / "experiments/noise_defense_sweep.toml").string() +
                    "' --output '" + out.string() + "'";
  for (const auto& s : sets) cmd += " --set '" + s + "'";
  return cmd + " " + extra + " 2>&1";
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The overall flip_rate of the variant named `name` in results.json.
double flip_rate(const nlohmann::json& results, const std::string& name) {
  for (const auto& v : results["variants"])
    if (v["name"] == name)
      for (const auto& x : v["metrics"]["quantization_box"]["values"])
        if (x["name"] == "flip_rate" && x["group"] == "") return x["value"].get<double>();
  FAIL("no quantization_box flip_rate for variant " << name);
  return 0;
}

}  // namespace

TEST_CASE("the reduced noise defense sweep shows the box flip rate growing with the noise std", "[sweep][quantization_box][cli]") {
  const auto out = temp_dir("noise_defense_sweep");
  const auto r = run_command(sweep_command(out / "run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::ifstream f(out / "run" / "results.json");
  REQUIRE(f.good());
  const auto results = nlohmann::json::parse(f);
  REQUIRE(results["complete"] == true);
  CHECK(flip_rate(results, "fp16") == 0.0);  // the baseline against itself
  for (const std::string method : {"int8", "nf4"}) {
    std::vector<double> rates;
    for (const auto& s : kStds) rates.push_back(flip_rate(results, method + "_noise_" + s));
    INFO(method << " flip rates (%): " << rates[0] << " " << rates[1] << " " << rates[2] << " " << rates[3] << " " << rates[4]);
    CHECK(rates.front() == 0.0);  // std 0: the quantizer alone changes no code against the baseline
    for (std::size_t i = 1; i < rates.size(); ++i) CHECK(rates[i] >= rates[i - 1]);
    CHECK(rates.back() > rates.front());
  }
  const std::string report = read_text(out / "run" / "report.md");
  CHECK(report.find("quantization_box") != std::string::npos);
  CHECK(report.find("flip rate") != std::string::npos);
  CHECK(report.find("min_flip_rate_pct") != std::string::npos);
}

TEST_CASE("the reduced noise defense sweep with the box metric is valid under --dry-run", "[sweep][quantization_box][cli]") {
  const auto out = temp_dir("noise_defense_sweep_dry");
  const auto r = run_command(sweep_command(out / "run", "--dry-run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("quantization_box") != std::string::npos);
  CHECK(r.output.find("valid; nothing was run (--dry-run)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "run"));
}
