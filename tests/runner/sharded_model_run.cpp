// Shards on a real model: a reduced stories260K study (tests/runner/stories_shard_study.toml:
// fp32, bitsandbytes FP4 and NF4 x perplexity, KL, size) run unsharded and as 1, 2 and 3 shards of
// `qrun run --shard` merged by `qrun merge`: every cell value identical. KL is computed per cell
// against the baseline that each shard builds itself (same weights, same seeds), so no cell
// depends on which shard ran it.
#include "shard_fixture.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

std::vector<std::string> study_sets(const std::filesystem::path& out) {
  return {"model.path=" + asset("models/stories260K").string(),
          "datasets[0].path=" + asset("datasets/wikitext-2-raw/wiki.test.raw").string(),
          "experiment.output_dir=" + out.string()};
}

const std::filesystem::path kStudy = source_dir() / "tests/runner/stories_shard_study.toml";

}  // namespace

TEST_CASE("stories260K study: 1, 2 and 3 shards merged equal the unsharded run cell for cell", "[runner][shard][slow]") {
  const auto dir = temp_dir("stories_shards");
  auto straight = run_command(qrun_run(kStudy, study_sets(dir / "whole")));
  INFO(straight.output);
  REQUIRE(straight.exit_code == 0);
  const auto reference = read_json(dir / "whole" / "results.json");
  REQUIRE(reference["complete"] == true);
  REQUIRE(reference["variants"].size() == 3);
  for (const auto& v : reference["variants"]) CHECK(v["metrics"].size() == 3);
  CHECK(reference["variants"][2]["metrics"]["kl_divergence"]["values"][0]["value"].get<double>() > 0.0);

  for (int n = 1; n <= 3; ++n) {
    const auto out = dir / ("shards" + std::to_string(n));
    for (int i = 1; i <= n; ++i) {
      auto r = run_command(qrun_run(kStudy, study_sets(out), "--shard " + std::to_string(i) + "/" + std::to_string(n)));
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
    }
    auto m = run_command(qrun_cmd("merge " + quoted(out.string())));
    INFO(m.output);
    REQUIRE(m.exit_code == 0);
    const auto merged = read_json(out / "results.json");
    INFO(n << " shards");
    CHECK(merged["complete"] == true);
    CHECK(cell_values(merged) == cell_values(reference));
  }
}
