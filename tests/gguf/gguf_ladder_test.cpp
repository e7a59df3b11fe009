// experiments/gguf_ladder.toml run by `qrun` on tiny-qwen2, reduced for CI (float32 on CPU;
// perplexity and KL on the first 128 WikiText-2 tokens in windows of 64; one prompt per suite
// category, 4 new tokens; the in-process imatrix from 2 chunks of 32 tokens of
// datasets/calibration.json): every rung runs, the imatrix rungs record their calibration and
// differ from the rungs without one, and size and KL order the types as their bits do.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace qrun::test;

namespace {

const std::vector<int> kImatrixVariants = {7, 8, 9, 10, 11};  // variants[i] with imatrix = "calibration"

std::string ladder_command(const std::filesystem::path& out, const std::string& extra = "") {
  std::vector<std::string> sets = {
      "model.path=" + asset("models/tiny-qwen2").string(), "model.dtype=float32", "model.device=cpu",
      "datasets[0].path=" + asset("datasets/wikitext-2-raw/wiki.test.raw").string(),
      "datasets[1].path=" + (source_dir() / "datasets/prompt_suite_96.json").string(),
      "metrics[0].max_tokens=128", "metrics[0].max_length=64", "metrics[0].stride=32",
      "metrics[1].max_tokens=128", "metrics[1].max_length=64", "metrics[1].stride=32",
      "metrics[2].max_new_tokens=4", "metrics[2].limit_per_category=1",
      // q8_0 has no fallback for tiny-qwen2's 176-wide down_proj rows (llama-quantize stops there too)
      "variants[1].transforms[0].exclude=[\"down_proj\"]"};
  for (int i : kImatrixVariants) {
    const std::string t = "variants[" + std::to_string(i) + "].transforms[0].";
    sets.push_back(t + "calibration=" + (source_dir() / "datasets/calibration.json").string());
    sets.push_back(t + "seq_len=32");
    sets.push_back(t + "n_samples=2");
  }
  std::string cmd = "'" + qrun_exe().string() + "' run '" + (source_dir() / "experiments/gguf_ladder.toml").string() +
                    "' --output '" + out.string() + "'";
  for (const auto& s : sets) cmd += " --set '" + s + "'";
  return cmd + " " + extra + " 2>&1";
}

const nlohmann::json& variant(const nlohmann::json& results, const std::string& name) {
  for (const auto& v : results["variants"])
    if (v["name"] == name) return v;
  FAIL("no variant " << name);
  return results;
}

double value(const nlohmann::json& results, const std::string& name, const std::string& metric, const std::string& value) {
  for (const auto& x : variant(results, name)["metrics"][metric]["values"])
    if (x["name"] == value && x.value("group", "") == "") return x["value"].get<double>();
  FAIL("no " << metric << " " << value << " for variant " << name);
  return 0;
}

}  // namespace

TEST_CASE("the GGUF ladder is a valid plan (--dry-run)", "[gguf][ladder][cli]") {
  const auto out = temp_dir("gguf_ladder_dry");
  const auto r = run_command(ladder_command(out / "run", "--dry-run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("valid; nothing was run (--dry-run)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "run"));
}

TEST_CASE("the reduced GGUF ladder runs end to end on tiny-qwen2", "[gguf][ladder][cli][slow]") {
  const auto out = temp_dir("gguf_ladder");
  const auto r = run_command(ladder_command(out / "run"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::ifstream f(out / "run" / "results.json");
  REQUIRE(f.good());
  const auto results = nlohmann::json::parse(f);
  REQUIRE(results["complete"] == true);
  const std::vector<std::string> rungs = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"};
  for (const auto& n : rungs) {
    CAPTURE(n);
    CHECK(value(results, n, "ppl_wikitext2", "ppl") > 0);
  }
  const std::string text = results.dump();
  CHECK(text.find("llama_imatrix_chunks") != std::string::npos);  // the imatrix provenance is recorded
  // With an imatrix ggml runs other searches: different weights, different perplexity.
  for (const std::string n : {"Q4_K_M", "Q2_K"}) {
    CAPTURE(n);
    CHECK(value(results, n, "ppl_wikitext2", "ppl") != value(results, n + "_imatrix", "ppl_wikitext2", "ppl"));
  }
  CHECK(value(results, "Q8_0", "kl_divergence", "kl_mean") < value(results, "Q2_K", "kl_divergence", "kl_mean"));
  CHECK(value(results, "Q2_K", "model_size", "linear_bytes") < value(results, "Q8_0", "model_size", "linear_bytes"));
  CHECK(value(results, "Q8_0", "model_size", "linear_bytes") < value(results, "fp16", "model_size", "linear_bytes"));
  for (const std::string n : {"Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"})
    WARN(n << " KL without / with imatrix: " << value(results, n, "kl_divergence", "kl_mean") << " / "
           << value(results, n + "_imatrix", "kl_divergence", "kl_mean"));
  // The noise defense rungs ran through the same quantizer.
  CHECK(value(results, "Q4_K_M_noise_3e-3", "ppl_wikitext2", "ppl") > 0);
  std::ifstream rep(out / "run" / "report.md");
  REQUIRE(rep.good());
}
