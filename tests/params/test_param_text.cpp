// Parameter values as text: TOML-like rendering and `key=value` command-line assignments.
#include <qrun/params.hpp>

#include <catch2/catch.hpp>

namespace {

struct Cfg {
  double sigma = 0.01;
  std::int64_t blocksize = 64;
  bool enabled = true;
  std::string mode = "absolute";
  std::vector<std::string> skip;
};

const auto kSchema = qrun::schema<Cfg>(qrun::field("sigma", &Cfg::sigma), qrun::field("blocksize", &Cfg::blocksize),
                                       qrun::field("enabled", &Cfg::enabled), qrun::field("mode", &Cfg::mode),
                                       qrun::field("skip", &Cfg::skip));

qrun::ParamValue parsed(const std::string& text) {
  auto r = qrun::parse_param_assignment(kSchema.info(), text);
  REQUIRE(r.ok());
  return r->second;
}

}  // namespace

TEST_CASE("values render as TOML would write them", "[params]") {
  CHECK(qrun::to_string(qrun::ParamValue(true)) == "true");
  CHECK(qrun::to_string(qrun::ParamValue(std::int64_t{-3})) == "-3");
  CHECK(qrun::to_string(qrun::ParamValue(0.5)) == "0.5");
  CHECK(qrun::to_string(qrun::ParamValue(1.0)) == "1.0");
  CHECK(qrun::to_string(qrun::ParamValue(1e-5)) == "1e-05");
  CHECK(qrun::to_string(qrun::ParamValue(std::string("a\"b"))) == "\"a\\\"b\"");
  CHECK(qrun::to_string(qrun::ParamValue(std::vector<std::string>{"a", "b"})) == "[\"a\", \"b\"]");
}

TEST_CASE("parameter types have their user-facing names", "[params]") {
  CHECK(qrun::to_string(qrun::ParamType::real) == "float");
  CHECK(qrun::to_string(qrun::ParamType::string_list) == "string list");
}

TEST_CASE("an assignment is typed by the schema", "[params]") {
  CHECK(std::get<double>(parsed("sigma=1e-3")) == 1e-3);
  CHECK(std::get<std::int64_t>(parsed("blocksize=128")) == 128);
  CHECK(std::get<bool>(parsed("enabled=false")) == false);
  CHECK(std::get<std::string>(parsed("mode=\"row std\"")) == "row std");
  CHECK(std::get<std::vector<std::string>>(parsed("skip=[lm_head, 'embed']")) ==
        std::vector<std::string>{"lm_head", "embed"});
  CHECK(std::get<std::vector<std::string>>(parsed("skip=")).empty());
}

TEST_CASE("an assignment without '=' is rejected with an example", "[params]") {
  auto r = qrun::parse_param_assignment(kSchema.info(), "sigma");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "sigma");
  CHECK(r.error().reason == "expected key=value");
  CHECK(r.error().fix == "write e.g. sigma=0.01");
}

TEST_CASE("an assignment whose value does not parse as the field's type is rejected", "[params]") {
  auto r = qrun::parse_param_assignment(kSchema.info(), "blocksize=12x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "blocksize");
  CHECK(r.error().reason == "'12x' is not an int");
  CHECK(r.error().fix == "write e.g. blocksize=64");
}

TEST_CASE("an assignment to an unknown key suggests the nearest name", "[params]") {
  auto r = qrun::parse_param_assignment(kSchema.info(), "blocksise=32");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "blocksise");
  CHECK_THAT(r.error().fix, Catch::StartsWith("did you mean 'blocksize'?"));
}
