// results.json: value (de)serialisation, schema checks, atomic writes.
#include "results/results.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json minimal_results() {
  return {{"schema_version", qrun::kResultsSchemaVersion},
          {"experiment", {{"name", "x"}}},
          {"provenance", nlohmann::json::object()},
          {"variants", {{{"name", "base"}, {"baseline", true}, {"metrics", nlohmann::json::object()}}}},
          {"complete", false}};
}

}  // namespace

TEST_CASE("a metric value survives a JSON round trip", "[results]") {
  qrun::MetricValue v{"ppl", 12.5, 0.25, 1000, "", qrun::Better::lower, "math"};
  auto back = qrun::metric_value_from_json(qrun::to_json(v));
  REQUIRE(back.ok());
  CHECK(back->name == "ppl");
  CHECK(back->value == 12.5);
  CHECK(back->stderr_ == std::optional<double>(0.25));
  CHECK(back->n == 1000);
  CHECK(back->better == qrun::Better::lower);
  CHECK(back->group == "math");
}

TEST_CASE("a metric value without a standard error is written with stderr null", "[results]") {
  qrun::MetricValue v{"bytes", 3, std::nullopt, 1, "bytes", qrun::Better::none, ""};
  const auto j = qrun::to_json(v);
  CHECK(j["stderr"].is_null());
  auto back = qrun::metric_value_from_json(j);
  REQUIRE(back.ok());
  CHECK_FALSE(back->stderr_.has_value());
}

TEST_CASE("a metric value with an unknown direction is refused naming the field", "[results]") {
  auto j = qrun::to_json(qrun::MetricValue{"ppl", 1, std::nullopt, 1, "", qrun::Better::lower, ""});
  j["better"] = "sideways";
  auto back = qrun::metric_value_from_json(j);
  REQUIRE_FALSE(back.ok());
  CHECK(back.error().thing == "ppl.better");
}

TEST_CASE("a metric result keeps values, details and method", "[results]") {
  qrun::MetricResult r;
  r.values.push_back({"kl_mean", 0.01, 0.001, 500, "nats", qrun::Better::lower, ""});
  r.details = {{"p99", 0.2}};
  r.method = "KL(P_base || P_q) per token";
  auto back = qrun::metric_result_from_json(qrun::to_json(r));
  REQUIRE(back.ok());
  REQUIRE(back->values.size() == 1);
  CHECK(back->values[0].unit == "nats");
  CHECK(back->details["p99"] == 0.2);
  CHECK(back->method == r.method);
}

TEST_CASE("write_json_atomic writes the document and leaves no temporary file", "[results][atomic]") {
  const auto dir = qrun::test::temp_dir("results_atomic_write");
  REQUIRE(qrun::write_json_atomic(dir / "sub" / "results.json", minimal_results()).ok());
  CHECK(nlohmann::json::parse(slurp(dir / "sub" / "results.json")) == minimal_results());
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "sub")) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("write_text_atomic replaces a file by rename, never rewriting it in place", "[results][atomic]") {
  const auto dir = qrun::test::temp_dir("results_atomic_replace");
  const auto file = dir / "report.md";
  REQUIRE(qrun::write_text_atomic(file, "old").ok());
  // A hard link keeps the old inode: an in-place rewrite would change what it shows.
  std::filesystem::create_hard_link(file, dir / "old_link.md");
  REQUIRE(qrun::write_text_atomic(file, "new content").ok());
  CHECK(slurp(file) == "new content");
  CHECK(slurp(dir / "old_link.md") == "old");
}

TEST_CASE("write_text_atomic into a path below a regular file fails naming the folder", "[results][atomic]") {
  const auto dir = qrun::test::temp_dir("results_atomic_fail");
  std::ofstream(dir / "plain_file") << "x";
  auto r = qrun::write_text_atomic(dir / "plain_file" / "results.json", "{}");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == (dir / "plain_file").string());
  CHECK_FALSE(r.error().fix.empty());
}

TEST_CASE("read_results accepts what the writer wrote", "[results]") {
  const auto dir = qrun::test::temp_dir("results_read_ok");
  REQUIRE(qrun::write_json_atomic(dir / "results.json", minimal_results()).ok());
  auto j = qrun::read_results(dir / "results.json");
  REQUIRE(j.ok());
  REQUIRE(j->variants.size() == 1);
  CHECK(j->variants[0].name == "base");
  CHECK(j->variants[0].baseline);
}

TEST_CASE("read_results refuses another schema version naming the key", "[results]") {
  const auto dir = qrun::test::temp_dir("results_read_version");
  auto doc = minimal_results();
  doc["schema_version"] = 99;
  REQUIRE(qrun::write_json_atomic(dir / "results.json", doc).ok());
  auto j = qrun::read_results(dir / "results.json");
  REQUIRE_FALSE(j.ok());
  CHECK(j.error().thing == (dir / "results.json").string() + " schema_version");
  CHECK(j.error().reason == "is 99, this qrun reads version 1");
}

TEST_CASE("read_results refuses a file that is not JSON", "[results]") {
  const auto dir = qrun::test::temp_dir("results_read_garbage");
  std::ofstream(dir / "results.json") << "{ not json";
  auto j = qrun::read_results(dir / "results.json");
  REQUIRE_FALSE(j.ok());
  CHECK(j.error().thing == (dir / "results.json").string());
  CHECK(j.error().reason == "is not valid JSON");
}

TEST_CASE("read_results refuses a cell whose values are malformed, naming the cell", "[results]") {
  const auto dir = qrun::test::temp_dir("results_read_cell");
  auto doc = minimal_results();
  doc["variants"][0]["metrics"]["ppl"] = {{"use", "perplexity"}, {"values", {{{"name", "ppl"}}}}};
  REQUIRE(qrun::write_json_atomic(dir / "results.json", doc).ok());
  auto j = qrun::read_results(dir / "results.json");
  REQUIRE_FALSE(j.ok());
  CHECK(j.error().thing == (dir / "results.json").string() + " variants[0].metrics.ppl.values[0].value");
  CHECK(j.error().code == qrun::ErrorCode::corrupt_input);
}

TEST_CASE("the sessions of a run survive a JSON round trip in order", "[results]") {
  qrun::Results r;
  r.variants.push_back({});
  r.variants[0].name = "base";
  r.provenance.sessions = {{"start", "2026-12-07T10:00:00Z", "node1", "1/2", "77_1"},
                           {"resume", "2026-12-07T11:00:00Z", "node2", "", ""}};
  auto back = qrun::results_from_json(qrun::to_json(r));
  REQUIRE(back.ok());
  REQUIRE(back->provenance.sessions.size() == 2);
  CHECK(back->provenance.sessions[0].kind == "start");
  CHECK(back->provenance.sessions[0].shard == "1/2");
  CHECK(back->provenance.sessions[0].job == "77_1");
  CHECK(back->provenance.sessions[1].host == "node2");
}
