// Malformed experiments: each error names file:line:col and the key, and says how to fix it.
#include "experiment/experiment.hpp"
#include "test_registry.hpp"

#include <catch2/catch.hpp>

using qrun::test::test_registry;

namespace {

const char* kFile = "experiments/x.toml";

qrun::Error load_error(const std::string& toml, const std::vector<std::string>& overrides = {}) {
  qrun::LoadOptions options;
  options.overrides = overrides;
  auto e = qrun::parse_experiment(toml, kFile, test_registry(), options);
  REQUIRE_FALSE(e.ok());
  INFO(e.error().message());
  return e.error();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A valid experiment; cases below change one thing. Line numbers are 1-based.
const std::string kModel = "[model]\nuse = \"test_backend\"\n";  // lines 1-2 when first

}  // namespace

TEST_CASE("a TOML syntax error names the file, line and column", "[experiment][errors]") {
  const auto err = load_error("[experiment]\nname = \"t\nseed = 1\n");
  CHECK(err.thing == "experiments/x.toml:2:10");
  CHECK(contains(err.reason, "TOML syntax error"));
  CHECK(contains(err.fix, "correct the TOML"));
}

TEST_CASE("an unknown key is rejected at its position with the nearest name", "[experiment][errors]") {
  const auto err = load_error("[experiment]\nnmae = \"t\"\n" + kModel + "[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:2:1 experiment.nmae");
  CHECK(err.reason == "unknown key");
  CHECK(contains(err.fix, "did you mean 'name'?"));
}

TEST_CASE("a value of the wrong type is rejected at the value", "[experiment][errors]") {
  const auto err = load_error("[experiment]\nname = \"t\"\nseed = \"one\"\n" + kModel + "[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:3:8 experiment.seed");
  CHECK(err.reason == "is a string, expected an integer");
  CHECK(err.fix == "write seed = 0");
}

TEST_CASE("an unknown plugin name lists the plugins of that kind and the nearest", "[experiment][errors]") {
  const auto err = load_error("[model]\nuse = \"test_backnd\"\n[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:2:7 model.use");
  CHECK(err.reason == "no backend plugin named 'test_backnd'");
  CHECK(contains(err.fix, "did you mean 'test_backend'?"));
}

TEST_CASE("a plugin of the wrong kind is refused with its actual kind", "[experiment][errors]") {
  const auto err = load_error("[model]\nuse = \"test_noise\"\n[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:2:7 model.use");
  CHECK(err.reason == "'test_noise' is a transform plugin, not a backend");
  CHECK(contains(err.fix, "backend plugins: test_backend"));
}

TEST_CASE("a parameter out of its schema's range is refused at the value", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[variants]]\nname = \"b\"\n"
                              "[[variants]]\nname = \"n\"\ntransforms = [{use = \"test_noise\", std = -0.1}]\n");
  CHECK(err.thing == "experiments/x.toml:7:42 variants[1].transforms[0].std");
  CHECK(err.reason == "-0.1 is below 0");
  CHECK(err.fix == "use a value in [0, 1]");
}

TEST_CASE("an unknown plugin parameter is refused at its key with the nearest name", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[variants]]\nname = \"b\"\n"
                              "[[variants]]\nname = \"n\"\n[[variants.transforms]]\nuse = \"test_noise\"\nstdd = 0.1\n");
  CHECK(err.thing == "experiments/x.toml:9:1 variants[1].transforms[0].stdd");
  CHECK(err.reason == "unknown parameter");
  CHECK(contains(err.fix, "did you mean 'std'?"));
}

TEST_CASE("two variants marked baseline are refused at the second", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[variants]]\nname = \"a\"\nbaseline = true\n"
                              "[[variants]]\nname = \"b\"\nbaseline = true\n");
  CHECK(err.thing == "experiments/x.toml:8:12 variants[1].baseline");
  CHECK(contains(err.reason, "a second baseline (variant 'a' at experiments/x.toml:3:1"));
  CHECK(err.fix == "mark exactly one variant with baseline = true");
}

TEST_CASE("a quantizer before a defense is refused at the defense", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[variants]]\nname = \"b\"\n"
                              "[[variants]]\nname = \"q\"\n"
                              "transforms = [{use = \"test_quant\"}, {use = \"test_noise\"}]\n");
  CHECK(err.thing == "experiments/x.toml:7:37 variants[1].transforms[1]");
  CHECK(err.reason == "defense 'test_noise' comes after quantizer 'test_quant'");
  CHECK(contains(err.fix, "list defenses first and at most one quantizer last"));
}

TEST_CASE("a second quantizer in one chain is refused", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[variants]]\nname = \"b\"\n"
                              "[[variants]]\nname = \"q\"\n"
                              "transforms = [{use = \"test_quant\"}, {use = \"test_quant\", step = 0.5}]\n");
  CHECK(err.thing == "experiments/x.toml:7:37 variants[1].transforms[1]");
  CHECK(err.reason == "a second quantizer ('test_quant' after 'test_quant')");
}

TEST_CASE("a metric naming an undeclared dataset is refused with the declared names", "[experiment][errors]") {
  const auto err = load_error(kModel +
                              "[[datasets]]\nname = \"wiki\"\npath = \"w.txt\"\n"
                              "[[variants]]\nname = \"b\"\n"
                              "[[metrics]]\nuse = \"test_data\"\ndataset = \"wikk\"\n");
  CHECK(err.thing == "experiments/x.toml:10:11 metrics[0].dataset");
  CHECK(err.reason == "no [[datasets]] entry is named 'wikk'");
  CHECK(contains(err.fix, "did you mean 'wiki'?"));
}

TEST_CASE("a metric that needs a dataset and names none is refused", "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n[[metrics]]\nuse = \"test_data\"\n");
  CHECK(err.thing == "experiments/x.toml:5:1 metrics[0]");
  CHECK(err.reason == "metric 'test_data' needs a dataset and this entry names none");
  CHECK(contains(err.fix, "add dataset = "));
}

TEST_CASE("an experiment without a model table is refused", "[experiment][errors]") {
  const auto err = load_error("[experiment]\nname = \"t\"\n[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:1:1 model");
  CHECK(err.reason == "the experiment has no [model] table");
  CHECK(contains(err.fix, "add [model] with use = \"hf\""));
}

TEST_CASE("a --set index past the end of an array is refused", "[experiment][errors][set]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n", {"variants[3].name=x"});
  CHECK(err.thing == "--set variants[3].name=x");
  CHECK(err.reason == "index 3 is out of range: 'variants' has 1 entries");
  CHECK(contains(err.fix, "--set section.key=value"));
}

TEST_CASE("a --set without '=' is refused", "[experiment][errors][set]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n", {"model.path"});
  CHECK(err.thing == "--set model.path");
  CHECK(err.reason == "has no '='");
}

TEST_CASE("a --set value of the wrong type is reported as coming from --set", "[experiment][errors][set]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n", {"experiment.seed=abc"});
  CHECK(err.thing == "--set experiment.seed");
  CHECK(err.reason == "is a string, expected an integer");
}

TEST_CASE("an unknown report key is refused with the nearest declared key", "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n[report]\nmax_ppl_increse_pct = 5\n");
  CHECK(err.thing == "experiments/x.toml:6:1 report.max_ppl_increse_pct");
  CHECK(contains(err.fix, "did you mean 'max_ppl_increase_pct'?"));
}

TEST_CASE("a negative report criterion is refused", "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n[report]\nmax_category_kl = -1\n");
  CHECK(err.thing == "experiments/x.toml:6:19 report.max_category_kl");
  CHECK(err.reason == "-1 is below 0");
}

TEST_CASE("two variants with the same name are refused", "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n[[variants]]\nname = \"b\"\n");
  CHECK(err.thing == "experiments/x.toml:6:8 variants[1].name");
  CHECK(err.reason == "'b' is already the name of another variant");
}

TEST_CASE("without a marked baseline and without an untransformed variant the baseline is missing",
          "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"q\"\ntransforms = [{use = \"test_quant\"}]\n");
  CHECK(err.thing == "experiments/x.toml:3:1 variants");
  CHECK(contains(err.reason, "no baseline"));
  CHECK(err.fix == "add baseline = true to the variant the others are compared with");
}

TEST_CASE("an unknown top-level table is refused with the nearest name", "[experiment][errors]") {
  const auto err = load_error(kModel + "[[variants]]\nname = \"b\"\n[[metric]]\nuse = \"test_weight_sum\"\n");
  CHECK(err.thing == "experiments/x.toml:5:3 metric");
  CHECK(contains(err.fix, "did you mean 'metrics'?"));
}

TEST_CASE("a missing experiment file is one error naming it", "[experiment][errors]") {
  auto e = qrun::load_experiment("experiments/does_not_exist.toml", test_registry());
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "experiments/does_not_exist.toml");
  CHECK_FALSE(e.error().fix.empty());
}
