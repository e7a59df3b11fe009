// validate_params: unknown keys, types, ranges, choices, defaults, int -> real.
#include <qrun/params.hpp>

#include <catch2/catch.hpp>

namespace {

struct Cfg {
  double sigma = 0.01;
  std::int64_t blocksize = 64;
  bool enabled = true;
  std::string mode = "absolute";
  std::vector<std::string> skip = {"lm_head"};
};

const auto kSchema = qrun::schema<Cfg>(
    qrun::field("sigma", &Cfg::sigma).range(0.0, 1.0).unit("×RMS").doc("noise scale"),
    qrun::field("blocksize", &Cfg::blocksize).range(16, 4096).doc("values per block"),
    qrun::field("enabled", &Cfg::enabled).doc("switch"),
    qrun::field("mode", &Cfg::mode).choices({"absolute", "row_std"}).doc("how sigma scales"),
    qrun::field("skip", &Cfg::skip).choices({"lm_head", "embed_tokens"}).doc("layers left alone"));

const qrun::SchemaInfo& info() { return kSchema.info(); }

}  // namespace

TEST_CASE("an unknown key is rejected with the nearest parameter name as a hint", "[params]") {
  auto r = qrun::validate_params(info(), {{"sigam", 0.5}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "sigam");
  CHECK(r.error().reason == "unknown parameter");
  CHECK_THAT(r.error().fix, Catch::StartsWith("did you mean 'sigma'?"));
  CHECK_THAT(r.error().fix, Catch::Contains("blocksize"));
}

TEST_CASE("an unknown key far from every name lists the parameters without a guess", "[params]") {
  auto r = qrun::validate_params(info(), {{"temperature", 0.5}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "temperature");
  CHECK_THAT(r.error().fix, !Catch::Contains("did you mean"));
  CHECK(r.error().fix == "parameters are: sigma, blocksize, enabled, mode, skip");
}

TEST_CASE("a component without parameters rejects any key", "[params]") {
  auto r = qrun::validate_params(qrun::no_params().info(), {{"x", true}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "x");
  CHECK(r.error().fix == "remove it");
}

TEST_CASE("a value of the wrong type is rejected naming both types", "[params]") {
  auto r = qrun::validate_params(info(), {{"blocksize", std::string("big")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "blocksize");
  CHECK(r.error().reason == "expected int, got string \"big\"");
  CHECK(r.error().fix == "write an int, e.g. blocksize = 64");
}

TEST_CASE("a real where an integer is expected is rejected, not truncated", "[params]") {
  auto r = qrun::validate_params(info(), {{"blocksize", 64.5}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "blocksize");
  CHECK(r.error().reason == "expected int, got float 64.5");
}

TEST_CASE("an integer where a real is expected is accepted and converted", "[params]") {
  auto r = qrun::validate_params(info(), {{"sigma", std::int64_t{1}}});
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<double>(r->at("sigma")));
  CHECK(std::get<double>(r->at("sigma")) == 1.0);
}

TEST_CASE("a value below the range is rejected with the range as the fix", "[params]") {
  auto r = qrun::validate_params(info(), {{"sigma", -0.1}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "sigma");
  CHECK(r.error().reason == "-0.1 is below 0");
  CHECK(r.error().fix == "use a value in [0, 1]");
}

TEST_CASE("an integer above the range is rejected", "[params]") {
  auto r = qrun::validate_params(info(), {{"blocksize", std::int64_t{8192}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "8192 is above 4096");
  CHECK(r.error().fix == "use a value in [16, 4096]");
}

TEST_CASE("nan is rejected for a bounded real", "[params]") {
  auto r = qrun::validate_params(info(), {{"sigma", std::nan("")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "sigma");
}

TEST_CASE("a string outside its choices is rejected with the nearest choice", "[params]") {
  auto r = qrun::validate_params(info(), {{"mode", std::string("row_sd")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "mode");
  CHECK(r.error().reason == "\"row_sd\" is not one of \"absolute\", \"row_std\"");
  CHECK_THAT(r.error().fix, Catch::StartsWith("did you mean \"row_std\"?"));
}

TEST_CASE("each element of a string list is checked against the choices", "[params]") {
  auto r = qrun::validate_params(info(), {{"skip", std::vector<std::string>{"lm_head", "embeddings"}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "skip[1]");
}

TEST_CASE("missing keys get the struct's defaults", "[params]") {
  auto r = qrun::validate_params(info(), {{"sigma", 0.5}});
  REQUIRE(r.ok());
  CHECK(r->size() == 5);
  CHECK(std::get<double>(r->at("sigma")) == 0.5);
  CHECK(std::get<std::int64_t>(r->at("blocksize")) == 64);
  CHECK(std::get<bool>(r->at("enabled")) == true);
  CHECK(std::get<std::string>(r->at("mode")) == "absolute");
  CHECK(std::get<std::vector<std::string>>(r->at("skip")) == std::vector<std::string>{"lm_head"});
}

TEST_CASE("the schema builds the typed struct from validated values", "[params]") {
  auto r = qrun::validate_params(info(), {{"blocksize", std::int64_t{128}}, {"mode", std::string("row_std")}});
  REQUIRE(r.ok());
  const Cfg cfg = kSchema.make(*r);
  CHECK(cfg.blocksize == 128);
  CHECK(cfg.mode == "row_std");
  CHECK(cfg.sigma == 0.01);
}

TEST_CASE("nearest_name finds typos and abbreviations but not unrelated names", "[params]") {
  const std::vector<std::string> names = {"perplexity", "kl_divergence", "block_size", "nf4"};
  CHECK(qrun::nearest_name("perplexty", names) == "perplexity");
  CHECK(qrun::nearest_name("blocksize", names) == "block_size");
  CHECK(qrun::nearest_name("perp", names) == "perplexity");
  CHECK(qrun::nearest_name("NF4", names) == "nf4");
  CHECK_FALSE(qrun::nearest_name("accuracy", names).has_value());
  CHECK_FALSE(qrun::nearest_name("x", names).has_value());
}
