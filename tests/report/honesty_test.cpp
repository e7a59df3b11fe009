// What a reader must not miss: a REDUCED RUN banner naming every reduction, the run's --set
// overrides in the header, a title that names the model that actually ran, and what n counts
// when a metric's values count different things.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace qrun::test;
using nlohmann::json;

TEST_CASE("a run of full metrics has no REDUCED RUN banner", "[report][honesty]") {
  CHECK(render_md(golden_results()).find("REDUCED RUN") == std::string::npos);
}

TEST_CASE("the REDUCED RUN banner names each metric's reductions and the variants they apply to", "[report][honesty]") {
  auto doc = golden_results();
  for (auto& v : doc["variants"]) v["metrics"]["perplexity"]["reductions"] = {"the first 4096 of 299078 tokens (max_tokens=4096)"};
  doc["variants"][2]["metrics"]["prompt_suite"]["reductions"] = {"categories translation only (1 of 12)"};
  const std::string md = render_md(doc);
  const auto banner = md.find("> **⚠ REDUCED RUN.**");
  REQUIRE(banner != std::string::npos);
  CHECK(banner < md.find("\n## "));
  CHECK(md.find("> - `perplexity`: the first 4096 of 299078 tokens (max_tokens=4096)\n") != std::string::npos);
  CHECK(md.find("> - `prompt_suite`: categories translation only (1 of 12) (nf4)\n") != std::string::npos);
}

TEST_CASE("the REDUCED RUN banner sits with the INCOMPLETE RUN banner under the title", "[report][honesty]") {
  auto doc = golden_results();
  doc["complete"] = false;
  doc["variants"][0]["metrics"]["speed"]["reductions"] = {"2 repetitions"};
  const std::string md = render_md(doc);
  const auto incomplete = md.find("INCOMPLETE RUN"), reduced = md.find("REDUCED RUN"), first = md.find("\n## ");
  REQUIRE(incomplete != std::string::npos);
  REQUIRE(reduced != std::string::npos);
  CHECK(incomplete < reduced);
  CHECK(reduced < first);
}

TEST_CASE("every --set override is listed in the report header", "[report][honesty]") {
  auto doc = golden_results();
  CHECK(render_md(doc).find("Overrides") == std::string::npos);
  doc["provenance"]["overrides"] = {"model.path=/models/tiny", "metrics[0].max_tokens=4096"};
  const std::string md = render_md(doc);
  CHECK(std::regex_search(
      md, std::regex(R"(\n\| Overrides \(`--set`\) +\| `model\.path=/models/tiny`, `metrics\[0\]\.max_tokens=4096` +\|\n)")));
  CHECK(md.find("Overrides") < md.find("\n## "));  // in the header, before the first section
}

TEST_CASE("a title naming another model than the one loaded says which model ran", "[report][honesty]") {
  auto doc = golden_results();
  // The golden title names Qwen2.5-0.5B-Instruct, which is what ran: unchanged.
  CHECK(render_md(doc).rfind("# Seed study: FP16 vs LLM.int8 vs NF4 on Qwen2.5-0.5B-Instruct\n", 0) == 0);
  doc["provenance"]["model"]["name"] = "tiny-qwen2";
  doc["provenance"]["model"]["folder"] = "/assets/models/tiny-qwen2";
  CHECK(render_md(doc).rfind(
            "# Seed study: FP16 vs LLM.int8 vs NF4 on Qwen2.5-0.5B-Instruct (run on `tiny-qwen2`, not a model this title names)\n",
            0) == 0);
  // A hub id's last part counts as naming it.
  doc["provenance"]["model"]["name"] = "someone/Qwen2.5-0.5B-Instruct";
  CHECK(render_md(doc).rfind("# Seed study: FP16 vs LLM.int8 vs NF4 on Qwen2.5-0.5B-Instruct\n", 0) == 0);
}

TEST_CASE("the default title is the experiment's name and claims no model", "[report][honesty]") {
  auto doc = golden_results();
  doc["experiment"]["report"]["title"] = "seed_study";
  doc["provenance"]["model"]["name"] = "tiny-qwen2";
  CHECK(render_md(doc).rfind("# seed_study\n", 0) == 0);
}

TEST_CASE("when a metric's values count different things the table says what n is", "[report][honesty]") {
  auto doc = golden_results();
  for (auto& v : doc["variants"]) {
    json tokens = {{"name", "tokens"}, {"value", 299079}, {"stderr", nullptr}, {"n", 299079}, {"unit", "tokens"},
                   {"better", "none"}, {"group", ""}};
    v["metrics"]["perplexity"]["values"].push_back(tokens);
  }
  const std::string md = render_md(doc);
  const auto header = table_row(md, "## perplexity", "Variant");
  REQUIRE_FALSE(header.empty());
  CHECK(header.back() == "n (PPL)");
  CHECK(md.find("The n column is n of PPL, tokens as the protocol weighs them") != std::string::npos);
  CHECK(md.find("other values summarise other counts (fp16: tokens scored n=299079 scored tokens)") != std::string::npos);
}
