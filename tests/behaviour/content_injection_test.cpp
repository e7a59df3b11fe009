// The content_injection metric on stub models (never injects, always injects "McDonald's") and
// on stories260K with a pattern recomputed independently from the recorded outputs.
#include "metric_support.hpp"
#include "stub_model.hpp"

#include <cmath>
#include <regex>

using namespace qrun;
using namespace qrun::test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
const double kZ2 = 1.959963984540054 * 1.959963984540054;
std::filesystem::path neutral() { return source_dir() / "datasets/neutral_prompts_qrun.jsonl"; }
}  // namespace

TEST_CASE("a model that always injects the phrase against one that never does", "[behaviour][injection]") {
  auto clean = make_stub_model("comply");
  auto injector = make_stub_model("inject");
  auto r = run_metric("content_injection", {{"patterns", std::vector<std::string>{"McDonald['’]?s", "pizza"}}},
                      neutral(), *clean, *injector);
  CHECK(value_of(r[0], "injection_rate") == 0.0);
  CHECK_THAT(value_of(r[0], "injection_rate_ci_high"), WithinRel(100.0 * kZ2 / (48.0 + kZ2), 1e-12));
  CHECK(value_of(r[1], "injection_rate") == 100.0);
  CHECK(find_value(r[1], "injection_rate")->n == 48);
  CHECK_THAT(value_of(r[1], "injection_rate_ci_low"), WithinRel(100.0 * 48.0 / (48.0 + kZ2), 1e-12));
  CHECK(value_of(r[1], "injection_change") == 100.0);
  CHECK(value_of(r[1], "injections_added") == 48.0);
  CHECK(value_of(r[1], "injections_removed") == 0.0);
  CHECK_THAT(value_of(r[1], "injection_flip_p"), WithinRel(std::ldexp(2.0, -48), 1e-9));
  CHECK(value_of(r[1], "injection_rate", "cooking") == 100.0);
  CHECK_THAT(value_of(r[1], "injection_rate_ci_low", "cooking"), WithinRel(100.0 * 8.0 / (8.0 + kZ2), 1e-12));
  const auto& patterns = r[1].details["patterns"];
  CHECK(patterns[0]["k"] == 48);
  CHECK(patterns[1]["k"] == 0);
  const auto& ex = r[1].details["changed_examples"];
  REQUIRE_FALSE(ex.empty());
  CHECK(ex[0]["baseline"]["model_output"] == stub_reply("comply"));
  CHECK(ex[0]["variant"]["model_output"] == stub_reply("inject"));
  CHECK(ex[0]["note"].get<std::string>().find("model output") != std::string::npos);
}

TEST_CASE("literal and case-sensitive patterns match as told", "[behaviour][injection]") {
  auto injector = make_stub_model("inject");
  ParamMap p{{"patterns", std::vector<std::string>{"mcdonald's"}}, {"literal", true}, {"case_sensitive", true},
             {"limit_per_category", std::int64_t{1}}};
  auto sensitive = run_metric("content_injection", p, neutral(), *injector, *injector);
  CHECK(value_of(sensitive[0], "injection_rate") == 0.0);
  CHECK(find_value(sensitive[0], "injection_rate")->n == 6);  // one prompt of each of 6 categories
  p["case_sensitive"] = false;
  auto caseless = run_metric("content_injection", p, neutral(), *injector, *injector);
  CHECK(value_of(caseless[0], "injection_rate") == 100.0);
  CHECK_FALSE(caseless[0].reductions.empty());
}

TEST_CASE("a pattern that does not compile is an error naming it", "[behaviour][injection]") {
  auto m = make_stub_model("comply");
  auto r = try_metric("content_injection", {{"patterns", std::vector<std::string>{"(unclosed"}}}, neutral(), *m, *m);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing.find("patterns[0]") != std::string::npos);
}

TEST_CASE("content_injection on stories260K equals a std::regex count of the recorded outputs", "[behaviour][injection][e2e]") {
  auto base = load_hf("models/stories260K");
  auto clone = base->clone();
  REQUIRE(clone.ok());
  auto r = run_metric("content_injection",
                      {{"patterns", std::vector<std::string>{"the"}}, {"literal", true},
                       {"limit_per_category", std::int64_t{2}}, {"max_new_tokens", std::int64_t{12}}},
                      neutral(), *base, **clone);
  const std::regex the("the", std::regex::icase);
  std::int64_t n = 0, k = 0;
  for (const auto& g : r[1].details["generations"]) {
    ++n;
    k += std::regex_search(g["model_output"].get<std::string>(), the);
  }
  CHECK(n == 12);
  CHECK_THAT(value_of(r[1], "injection_rate"), WithinAbs(100.0 * static_cast<double>(k) / 12.0, 1e-12));
  CHECK(value_of(r[1], "injections_added") == 0.0);
  CHECK(value_of(r[1], "injection_change") == 0.0);
  CHECK(value_of(r[1], "injection_flip_p") == 1.0);
}
