// `qrun attack experiments/attack_ci.toml` on stories260K (CPU): the issue-20 acceptance. After
// the PGD repair the full-precision model's injection rate is <= 5 %, its NF4 version's >= 50 %,
// every NF4 code equals the injected model's, and some noise std brings the NF4 rate to <= 10 %;
// attack.json, report.md and the two model folders are written, and the repaired folder loads
// back with the same NF4 behaviour. Also the attack file's validation errors.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

using namespace qrun::test;

namespace {

std::string attack_command(const std::filesystem::path& file, const std::filesystem::path& out, const std::string& extra = "") {
  return "cd '" + source_dir().string() + "' && '" + qrun_exe().string() + "' attack '" + file.string() + "' --output '" +
         out.string() + "' --set 'model.path=" + asset("models/stories260K").string() + "' " + extra + " 2>&1";
}

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  REQUIRE(f);
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("qrun attack on stories260K: benign in fp32, injected under NF4, removed by noise", "[attack][cli][slow]") {
  const auto out = temp_dir("attack_ci") / "run";
  const auto r = run_command(attack_command(source_dir() / "experiments/attack_ci.toml", out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = read_json(out / "attack.json");
  REQUIRE(j["acceptance"].size() == 1);
  const auto& a = j["acceptance"][0];
  CHECK(a["target"] == "nf4");
  CHECK(a["repaired_fp_rate_pct"].get<double>() <= 5.0);
  CHECK(a["repaired_quantized_rate_pct"].get<double>() >= 50.0);
  CHECK(a["code_flips"] == 0);
  CHECK(a["defense_ok"] == true);
  CHECK(j["repair"]["box_violations"] == 0);
  CHECK(j["repair"]["moved"].get<std::int64_t>() > 0);
  CHECK(j["inject"]["parity_max_abs_diff"].get<double>() <= 1e-4);
  // The original model and its NF4 version do not say the phrase.
  for (const auto& v : j["variants"])
    if (v["stage"] == "original") CHECK(v["rate_pct"].get<double>() <= 5.0);
  CHECK(std::filesystem::exists(out / "report.md"));
  CHECK(std::filesystem::exists(out / "injected" / "model.safetensors"));
  REQUIRE(std::filesystem::exists(out / "repaired" / "qrun_attack.json"));
  CHECK(j["data"]["train_prompts_sha256"].get<std::string>().size() == 64);
  CHECK(read_json(out / "repaired" / "qrun_attack.json")["provenance"]["source_files_sha256"].size() >= 1);

  // The published folder, loaded back by `qrun eval`, keeps the NF4 behaviour.
  // In a subshell: run_command appends 2>&1, which would otherwise undo 2>/dev/null and mix the log
  // into the JSON on stdout.
  const auto eval = run_command("(cd '" + source_dir().string() + "' && '" + qrun_exe().string() + "' eval --model '" +
                                (out / "repaired").string() +
                                "' --metric content_injection --param max_new_tokens=32 --param batch_size=16 --transform nf4"
                                " --data datasets/neutral_prompts_qrun.jsonl --json 2>/dev/null)");
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  const auto ej = nlohmann::json::parse(eval.output);
  double rate = -1;
  for (const auto& v : ej["result"]["values"])
    if (v["name"] == "injection_rate" && v["group"] == "") rate = v["value"].get<double>();
  CHECK(rate == Approx(a["repaired_quantized_rate_pct"].get<double>()));
}

TEST_CASE("qrun attack rejects a malformed attack file before any work", "[attack][cli]") {
  const auto dir = temp_dir("attack_errors");
  {
    std::ofstream f(dir / "bad.toml");
    f << "[attack]\nobjectiv = \"content_injection\"\n";
  }
  auto r = run_command(attack_command(dir / "bad.toml", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("objectiv") != std::string::npos);
  CHECK(r.output.find("objective") != std::string::npos);  // the nearest-name hint
  CHECK(!std::filesystem::exists(dir / "out"));
  {
    std::ofstream f(dir / "bad2.toml");
    f << "[attack]\ntargets = [\"nf5\"]\n";
  }
  r = run_command(attack_command(dir / "bad2.toml", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("nf5") != std::string::npos);
  {
    std::ofstream f(dir / "bad3.toml");
    f << "[attack]\ntargets = [\"nf4\"]\n[evaluate]\nnoise_std = [1e-3, \"x\"]\n";
  }
  r = run_command(attack_command(dir / "bad3.toml", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("noise_std") != std::string::npos);
}
