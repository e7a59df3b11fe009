// llama.cpp's chat template collection (tests/golden/chat_templates/llama_cpp_cases.json, from
// llama.cpp's tests/test-chat-template.cpp): every Jinja template renders the expected text.
#include "golden_fixtures.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

// llama.cpp's apply(): one leading bos_token and one trailing eos_token are cut from the render.
std::string strip_bos_eos(std::string s, const std::string& bos, const std::string& eos) {
  if (!bos.empty() && s.rfind(bos, 0) == 0) s.erase(0, bos.size());
  if (!eos.empty() && s.size() >= eos.size() && s.compare(s.size() - eos.size(), eos.size(), eos) == 0) {
    s.erase(s.size() - eos.size());
  }
  return s;
}

}  // namespace

TEST_CASE("every llama.cpp collection template renders llama.cpp's expected text", "[chat_template]") {
  const auto golden = chat_golden("llama_cpp_cases.json");
  const auto& cases = golden["cases"];
  REQUIRE(cases.size() == 29);
  for (const auto& c : cases) {
    const std::string name = c["name"].get<std::string>();
    INFO(name);
    nlohmann::ordered_json context = {{"messages", c["messages"]},
                                      {"add_generation_prompt", c["add_generation_prompt"]},
                                      {"bos_token", c["bos_token"]},
                                      {"eos_token", c["eos_token"]},
                                      {"tools", nullptr},
                                      {"documents", nullptr}};
    const auto r = render_template(c["template"].get<std::string>(), context, name);
    INFO((r.ok() ? std::string() : r.error().message()));
    REQUIRE(r.ok());
    // Where llama.cpp's engine differs from jinja2 (see the golden's README), qrun follows jinja2.
    const std::string expected = c.value("expected_jinja2", c["expected"].get<std::string>());
    CHECK(strip_bos_eos(*r, c["bos_token"].get<std::string>(), c["eos_token"].get<std::string>()) == expected);
  }
}

TEST_CASE("the llama.cpp collection's one divergence from jinja2 is the ChatGLM3 space", "[chat_template]") {
  const auto golden = chat_golden("llama_cpp_cases.json");
  int divergent = 0;
  for (const auto& c : golden["cases"]) {
    if (!c.contains("expected_jinja2")) continue;
    ++divergent;
    CHECK(c["name"] == "ChatGLM3");
    std::string with_space = c["expected"].get<std::string>();
    for (std::size_t at = 0; (at = with_space.find(">\n", at)) != std::string::npos; at += 3) with_space.insert(at + 2, " ");
    CHECK(with_space == c["expected_jinja2"].get<std::string>());
  }
  CHECK(divergent == 1);
}
