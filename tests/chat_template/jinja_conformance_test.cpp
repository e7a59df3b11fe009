// qrun's Jinja interpreter against jinja2 in transformers' environment, construct by construct
// (tests/golden/chat_templates/jinja2_cases.json, made by jinja2 3.1.6).
#include "golden_fixtures.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

TEST_CASE("every jinja2 conformance case renders as jinja2 renders it, or fails where jinja2 fails", "[chat_template]") {
  const auto golden = chat_golden("jinja2_cases.json");
  const auto& cases = golden["cases"];
  REQUIRE(cases.size() >= 100);
  int rendered = 0, refused = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string tmpl = c["template"].get<std::string>();
    INFO("case " << i << ": " << tmpl);
    const auto r = render_template(tmpl, c["context"], "jinja2_cases.json[" + std::to_string(i) + "]");
    if (c.contains("expected")) {
      INFO((r.ok() ? std::string("qrun: ") + *r : "qrun error: " + r.error().message()));
      REQUIRE(r.ok());
      CHECK(*r == c["expected"].get<std::string>());
      ++rendered;
    } else {
      INFO("jinja2: " << c["error"].get<std::string>());
      CHECK(!r.ok());
      ++refused;
    }
  }
  CHECK(rendered >= 80);
  CHECK(refused >= 15);
}
