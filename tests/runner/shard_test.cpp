// Cell keys and shard assignment, in process on the TEST-ONLY plugins: which changes change which
// keys, and that shards partition the cells deterministically and in balance.
#include "../experiment/test_registry.hpp"
#include "plan/plan.hpp"
#include "run_fixture.hpp"
#include "runner/cell_key.hpp"
#include "runner/shard.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <set>

using namespace qrun::test;

namespace {

qrun::Plan plan_of(const RunFolder& f, const std::vector<std::string>& extra = {}) {
  qrun::LoadOptions options;
  options.overrides = f.overrides(extra);
  auto e = qrun::load_experiment(f.toml, test_registry(), options);
  if (!e) FAIL(e.error().message());
  return qrun::make_plan(*e, options.overrides);
}

std::map<std::string, std::string> keys(const qrun::Plan& plan) {
  auto cells = qrun::runner::plan_cells(plan, test_registry(), std::nullopt);
  if (!cells) FAIL(cells.error().message());
  std::map<std::string, std::string> out;
  for (const auto& c : cells->cells) out[qrun::runner::cell_name(plan, c)] = c.key;
  return out;
}

// The cells whose key differs between two plans of the same cells.
std::set<std::string> changed(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::set<std::string> out;
  for (const auto& [name, key] : a)
    if (b.at(name) != key) out.insert(name);
  return out;
}

}  // namespace

TEST_CASE("a shard is written I/N with 1 <= I <= N", "[runner][shard]") {
  auto ok = qrun::runner::parse_shard("2/3");
  REQUIRE(ok.ok());
  CHECK(ok->index == 2);
  CHECK(ok->count == 3);
  CHECK(ok->text() == "2/3");
  for (const char* bad : {"0/3", "4/3", "3", "a/b", "1/0", "1/2/3", ""}) {
    INFO(bad);
    auto r = qrun::runner::parse_shard(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().thing == "--shard");
    CHECK(r.error().fix.find("I/N") != std::string::npos);
  }
}

TEST_CASE("cell keys change only for the cells a change affects", "[runner][keys]") {
  RunFolder f("keys_changes");
  const auto base = keys(plan_of(f));
  REQUIRE(base.size() == 9);
  CHECK(std::set<std::string>([&] { std::set<std::string> s; for (auto& [n, k] : base) s.insert(k); return s; }()).size() == 9);
  CHECK(keys(plan_of(f)) == base);  // deterministic
  // Not part of any key: the output folder, the report table, the model's device.
  CHECK(keys(plan_of(f, {"experiment.output_dir=" + (f.dir / "elsewhere").string(), "report.max_ppl_increase_pct=1"})) == base);
  CHECK(changed(base, keys(plan_of(f, {"variants[1].transforms[0].std=0.2"}))) ==
        std::set<std::string>{"noisy / test_weight_sum", "noisy / test_data", "noisy / test_diff"});
  CHECK(changed(base, keys(plan_of(f, {"metrics[0].scale=2"}))) ==
        std::set<std::string>{"base / test_weight_sum", "noisy / test_weight_sum", "quant / test_weight_sum"});
  CHECK(changed(base, keys(plan_of(f, {"experiment.seed=3"}))).size() == 9);
  std::ofstream(f.dir / "data.txt") << "other text\n";
  CHECK(changed(base, keys(plan_of(f))) == std::set<std::string>{"base / test_data", "noisy / test_data", "quant / test_data"});
}

TEST_CASE("shards partition the cells deterministically with no idle shard", "[runner][shard]") {
  RunFolder f("shards_partition");
  const qrun::Plan plan = plan_of(f);
  auto cells = qrun::runner::plan_cells(plan, test_registry(), std::nullopt);
  REQUIRE(cells.ok());
  for (int n = 1; n <= 4; ++n) {
    INFO(n << " shards");
    const auto owner = qrun::runner::assign_shards(plan, cells->cells, n);
    REQUIRE(owner.size() == cells->cells.size());
    CHECK(owner == qrun::runner::assign_shards(plan, cells->cells, n));
    std::map<int, int> per_shard;
    for (int s : owner) {
      CHECK(s >= 1);
      CHECK(s <= n);
      ++per_shard[s];
    }
    if (n <= 3) CHECK(static_cast<int>(per_shard.size()) == n);  // no idle shard while cells suffice
  }
}
