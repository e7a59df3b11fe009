// The golden-file test: tests/report/golden/results.json renders to the committed files in
// tests/report/golden/expected/ byte for byte (report.md and every SVG). Exact comparison, no
// tolerance: the report's number formatting is fixed, so any difference is a change in output.
//
// To regenerate after an intended change, run the test with QRUN_UPDATE_GOLDEN=1, e.g.
//   QRUN_UPDATE_GOLDEN=1 build/tests/report/test_report "[golden]"
// and review `git diff tests/report/golden/expected/` before committing.
#include "fixture.hpp"

#include "report/report.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace fs = std::filesystem;
using namespace qrun::test;

namespace {

fs::path expected_dir() { return source_dir() / "tests/report/golden/expected"; }

bool updating() {
  const char* env = std::getenv("QRUN_UPDATE_GOLDEN");
  return env && std::string(env) == "1";
}

}  // namespace

TEST_CASE("the golden results render to the committed report byte for byte", "[report][golden]") {
  auto files = render_json(golden_results());
  REQUIRE(files.ok());
  if (updating()) {
    fs::remove_all(expected_dir());
    REQUIRE(qrun::write_report_files(expected_dir(), *files).ok());
    WARN("QRUN_UPDATE_GOLDEN=1: rewrote " << expected_dir().string());
  }
  std::set<std::string> rendered;
  for (const auto& f : *files) {
    rendered.insert(f.name);
    const fs::path want = expected_dir() / f.name;
    INFO("file " << want.string() << " (regenerate with QRUN_UPDATE_GOLDEN=1 if the change is intended)");
    REQUIRE(fs::exists(want));
    CHECK(f.content == read_file(want.string()));
  }
  for (const auto& entry : fs::directory_iterator(expected_dir())) {
    INFO("committed golden file no longer rendered: " << entry.path().string());
    CHECK(rendered.count(entry.path().filename().string()) == 1);
  }
}

TEST_CASE("rendering is deterministic across repeated runs and a JSON round trip", "[report][golden]") {
  auto doc = golden_results();
  auto a = render_json(doc);
  auto b = render_json(nlohmann::json::parse(doc.dump()));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->size() == b->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    CHECK((*a)[i].name == (*b)[i].name);
    CHECK((*a)[i].content == (*b)[i].content);
  }
}
