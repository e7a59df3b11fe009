// `qrun eval`: one metric on one model from the command line (table or JSON), with transforms
// applied to a clone and the untransformed model as the baseline of comparison metrics.
#include "support/assets.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using qrun::test::asset;
using qrun::test::qrun_exe;
using qrun::test::run_command;

namespace {
std::string base_command(const std::string& metric) {
  return qrun_exe().string() + " --log-level error eval --model " + asset("models/stories260K").string() + " --metric " +
         metric + " --data " + asset("datasets/wikitext-2-raw/wiki.test.raw").string();
}
// The JSON document printed last (logs, if any, go before it).
nlohmann::json last_json(const std::string& out) {
  const auto start = out.find("{\n");
  REQUIRE(start != std::string::npos);
  return nlohmann::json::parse(out.substr(start));
}
double value(const nlohmann::json& j, const std::string& name) {
  for (const auto& v : j["result"]["values"])
    if (v["name"] == name) return v["value"].get<double>();
  FAIL("no value " << name);
  return 0;
}
}  // namespace

TEST_CASE("qrun eval prints a perplexity table", "[cli][eval]") {
  auto r = run_command(base_command("perplexity") +
                       " --param protocol=chunks --param n_ctx=128 --param max_tokens=512");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("perplexity on baseline") != std::string::npos);
  CHECK(r.output.find("ppl") != std::string::npos);
  CHECK(r.output.find("method: llama.cpp llama-perplexity") != std::string::npos);
}

TEST_CASE("qrun eval --json gives the metric values and effective parameters", "[cli][eval]") {
  auto r = run_command(base_command("perplexity") +
                       " --param protocol=chunks --param n_ctx=128 --param max_tokens=512 --json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = last_json(r.output);
  CHECK(j["metric"] == "perplexity");
  CHECK(j["params"]["n_ctx"] == 128);
  CHECK(j["params"]["batch_size"] == 4);  // defaults are filled in
  CHECK(value(j, "ppl") > 1.0);
  CHECK(j["dataset"]["sha256"] == "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08");
}

TEST_CASE("qrun eval compares a transformed clone with the untransformed baseline", "[cli][eval]") {
  auto r = run_command(base_command("kl_divergence") +
                       " --transform nf4:blocksize=64 --param n_ctx=128 --param max_tokens=1024 --json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = last_json(r.output);
  CHECK(j["variant"] == "transformed");
  CHECK(j["transforms"][0]["use"] == "nf4");
  CHECK(value(j, "kl_mean") > 0.0);
  CHECK(value(j, "same_top_p") <= 100.0);
}

TEST_CASE("qrun eval applies a transform chain in the given order", "[cli][eval]") {
  auto r = run_command(base_command("kl_divergence") +
                       " --transform weight_noise:std=0.001,seed=7 --transform nf4:blocksize=64"
                       " --param n_ctx=128 --param max_windows=2 --json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = last_json(r.output);
  REQUIRE(j["transforms"].size() == 2);
  CHECK(j["transforms"][0]["use"] == "weight_noise");  // the defense first, as written
  CHECK(j["transforms"][1]["use"] == "nf4");
  CHECK(j["params"]["max_windows"] == 2);
  CHECK(value(j, "kl_mean") > 0.0);
}

TEST_CASE("qrun eval with an unknown metric fails with one error line", "[cli][eval][errors]") {
  auto r = run_command(base_command("perplexyty"));
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("error: --metric") != std::string::npos);
  CHECK(r.output.find("perplexity") != std::string::npos);  // the nearest name is suggested
}

TEST_CASE("qrun eval with a bad parameter names it", "[cli][eval][errors]") {
  auto r = run_command(base_command("perplexity") + " --param protocol=windows");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("error: --param") != std::string::npos);
  CHECK(r.output.find("protocol") != std::string::npos);
}

TEST_CASE("qrun eval of a metric that needs data refuses to run without --data", "[cli][eval][errors]") {
  auto r = run_command(qrun_exe().string() + " eval --model " + asset("models/stories260K").string() +
                       " --metric perplexity");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("error: --data") != std::string::npos);
}
