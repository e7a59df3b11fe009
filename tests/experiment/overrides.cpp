// --set overrides: applied to the TOML tree before validation, typed as TOML values.
#include "experiment/experiment.hpp"
#include "test_registry.hpp"

#include <catch2/catch.hpp>

using qrun::test::test_registry;

namespace {

const std::string kToml =
    "[experiment]\nname = \"t\"\n"
    "[model]\nuse = \"test_backend\"\n"
    "[[datasets]]\nname = \"d\"\npath = \"a.txt\"\n"
    "[[variants]]\nname = \"b\"\n"
    "[[variants]]\nname = \"n\"\ntransforms = [{use = \"test_noise\"}]\n"
    "[[metrics]]\nuse = \"test_weight_sum\"\n";

qrun::Experiment load(const std::vector<std::string>& overrides) {
  qrun::LoadOptions options;
  options.overrides = overrides;
  auto e = qrun::parse_experiment(kToml, "x.toml", test_registry(), options);
  if (!e) FAIL(e.error().message());
  return std::move(e).value();
}

}  // namespace

TEST_CASE("option --set replaces a model parameter", "[experiment][set]") {
  auto e = load({"model.vocab=32"});
  CHECK(std::get<std::int64_t>(e.model.params.at("vocab")) == 32);
}

TEST_CASE("option --set takes an unquoted path as a string", "[experiment][set]") {
  auto e = load({"datasets[0].path=../shared/datasets/wikitext-2-raw/wiki.test.raw"});
  CHECK(e.datasets[0].path == "../shared/datasets/wikitext-2-raw/wiki.test.raw");
}

TEST_CASE("option --set reaches into an array element's table", "[experiment][set]") {
  auto e = load({"metrics[0].scale=2.5"});
  CHECK(std::get<double>(e.metrics[0].params.at("scale")) == 2.5);
}

TEST_CASE("option --set reaches into a nested transform", "[experiment][set]") {
  auto e = load({"variants[1].transforms[0].std=0.25"});
  CHECK(std::get<double>(e.variants[1].transforms[0].params.at("std")) == 0.25);
}

TEST_CASE("option --set sets the seed as an integer", "[experiment][set]") {
  auto e = load({"experiment.seed=3"});
  CHECK(e.seed == 3);
}

TEST_CASE("option --set creates a table that the file lacks", "[experiment][set]") {
  auto e = load({"report.title=Override title"});
  CHECK(e.report.title == "Override title");
}

TEST_CASE("later --set wins over an earlier one", "[experiment][set]") {
  auto e = load({"experiment.seed=3", "experiment.seed=7"});
  CHECK(e.seed == 7);
}

TEST_CASE("option --set through a value that is not a table is refused", "[experiment][set][errors]") {
  qrun::LoadOptions options;
  options.overrides = {"experiment.name.x=1"};
  auto e = qrun::parse_experiment(kToml, "x.toml", test_registry(), options);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "--set experiment.name.x=1");
  CHECK(e.error().reason == "'experiment.name' is a string, not a table");
}

TEST_CASE("option --set with a malformed key path is refused", "[experiment][set][errors]") {
  qrun::LoadOptions options;
  options.overrides = {"metrics[x].scale=1"};
  auto e = qrun::parse_experiment(kToml, "x.toml", test_registry(), options);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "--set metrics[x].scale=1");
  CHECK(e.error().reason.find("is not a key path") != std::string::npos);
}

TEST_CASE("option --set of an out-of-range plugin parameter is refused as coming from --set", "[experiment][set][errors]") {
  qrun::LoadOptions options;
  options.overrides = {"variants[1].transforms[0].std=-1"};
  auto e = qrun::parse_experiment(kToml, "x.toml", test_registry(), options);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "--set variants[1].transforms[0].std");
  CHECK(e.error().reason == "-1 is below 0");
}
