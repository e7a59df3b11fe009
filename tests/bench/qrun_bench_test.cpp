// qrun_bench (issue 8's speed measurements) run on tiny-qwen2 on the CPU with tiny sizes: the
// JSON it writes holds each measurement with its runs, and bad options are refused with a fix.
// Untimed: only the structure and the counts are checked, never the speed.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>

using qrun::test::asset;
using qrun::test::binary_dir;
using qrun::test::run_command;
using qrun::test::source_dir;
using qrun::test::temp_dir;

namespace {

// The first 40,000 bytes of wiki.test.raw (about 9k Qwen2.5 tokens): enough for a few chunks
// and the decode prompt, and quick to tokenize.
std::filesystem::path small_wikitext(const std::filesystem::path& dir) {
  std::ifstream in(asset("datasets/wikitext-2-raw/wiki.test.raw"), std::ios::binary);
  std::string text(40000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  const auto path = dir / "wiki.small.raw";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string bench_command(const std::filesystem::path& dir, const std::string& extra) {
  return (binary_dir() / "bin" / "qrun_bench").string() + " --model " + asset("models/tiny-qwen2").string() +
         " --device cpu --dtype float32 --wikitext " + small_wikitext(dir).string() + " --suite " +
         (source_dir() / "datasets" / "prompt_suite_96.json").string() + " --json " + (dir / "out.json").string() +
         " --ppl-ctx 64 --ppl-batch 2 --decode-prompt 8 --decode-new 5 --suite-new 3 --repeats 1 " +
         extra;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream f(path);
  REQUIRE(f);
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("qrun_bench writes perplexity, decode and suite measurements as JSON", "[bench]") {
  const auto dir = temp_dir("bench_all");
  const auto r = run_command(bench_command(dir, "--ppl-windows 3"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = read_json(dir / "out.json");
  CHECK(j["tool"] == "qrun_bench");
  CHECK(!j["qrun_version"].get<std::string>().empty());
  CHECK(j["device"] == "cpu");
  CHECK(j["compute_dtype"] == "float32");
  CHECK(j["transforms"].empty());
  CHECK(j["repeats"] == 1);
  const auto& m = j["measurements"];
  const auto& ppl = m["ppl"];
  CHECK(ppl["windows"] == 3);
  CHECK(ppl["tokens_processed"] == 3 * 64);
  CHECK(ppl["tokens_scored"] == 3 * (64 - 1 - 32));  // llama.cpp scores n_ctx - 1 - n_ctx/2 per chunk
  CHECK(ppl["seconds_runs"].size() == 1);
  CHECK(ppl["tokens_per_s_incl_tokenize"].get<double>() > 0);
  CHECK(std::isfinite(ppl["ppl"].get<double>()));
  CHECK(ppl["ppl"].get<double>() > 1.0);
  const auto& decode = m["decode"];
  CHECK(decode["prompts"] == 1);
  CHECK(decode["prompt_ids"].size() == 8);
  CHECK(decode["new_tokens"] == 5);
  CHECK(decode["seconds_runs"].size() == 1);
  CHECK(decode["seconds_median"].get<double>() > 0);
  const auto& suite = m["suite"];
  CHECK(suite["prompts"] == 96);
  CHECK(suite["chat_template"] == true);  // tiny-qwen2 carries Qwen2.5's ChatML template
  CHECK(suite["new_tokens"] == 3);
  CHECK(suite["new_tokens_per_s"].get<double>() > 0);
}

TEST_CASE("qrun_bench applies a transform chain and records it", "[bench]") {
  const auto dir = temp_dir("bench_transform");
  const auto r = run_command(bench_command(dir, "--what decode --transform int8"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = read_json(dir / "out.json");
  REQUIRE(j["transforms"].size() == 1);
  CHECK(j["transforms"][0]["use"] == "int8");
  CHECK(j["measurements"].contains("decode"));
  CHECK(!j["measurements"].contains("ppl"));
  CHECK(!j["measurements"].contains("suite"));
}

TEST_CASE("qrun_bench refuses an unknown measurement and writes nothing", "[bench]") {
  const auto dir = temp_dir("bench_bad_what");
  const auto r = run_command(bench_command(dir, "--what ppl,speed"));
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("--what: \"speed\" is not a measurement; fix:") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "out.json"));
}

TEST_CASE("qrun_bench refuses more perplexity windows than the text holds", "[bench]") {
  const auto dir = temp_dir("bench_too_many_windows");
  const auto r = run_command(bench_command(dir, "--what ppl --ppl-windows 100000"));
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("--ppl-windows: asked for 100000 windows") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "out.json"));
}
