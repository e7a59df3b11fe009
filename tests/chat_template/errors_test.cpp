// What a template qrun cannot render, or that refuses the conversation, reports: one Error naming
// the file, the template line and the construct (or the template's own message), with a fix.
#include "golden_fixtures.hpp"

#include "support/assets.hpp"
#include "tokenizer/chat_template.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun::test;
using qrun::ErrorCode;

namespace {

qrun::tok::ChatTemplate from(const std::string& source) {
  return qrun::tok::ChatTemplate::from_source(source, "models/x/tokenizer_config.json");
}

const nlohmann::ordered_json kUser = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");

}  // namespace

TEST_CASE("an unsupported tag is refused at its line, naming the tag and the file", "[chat_template][errors]") {
  const auto t = from("{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n{% include 'extra.jinja' %}");
  CHECK(t.supported());  // the model has a template: failing beats silently dropping its chat format
  const auto r = t.render_json(kUser, true);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::unsupported);
  CHECK(r.error().thing == "models/x/tokenizer_config.json chat_template line 4");
  CHECK(r.error().reason.find("'{% include %}'") != std::string::npos);
  CHECK(!r.error().fix.empty());
}

TEST_CASE("an unsupported filter is refused by name at its line", "[chat_template][errors]") {
  const auto r = from("{{ bos_token }}\n{{ messages[0].content | wordwrap(10) }}").render_json(kUser, false);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::unsupported);
  CHECK(r.error().thing == "models/x/tokenizer_config.json chat_template line 2");
  CHECK(r.error().reason.find("filter 'wordwrap'") != std::string::npos);
}

TEST_CASE("an unsupported string method and a recursive loop are refused by name", "[chat_template][errors]") {
  const auto method = from("{{ messages[0].content.zfill(8) }}").render_json(kUser, false);
  REQUIRE(!method.ok());
  CHECK(method.error().code == ErrorCode::unsupported);
  CHECK(method.error().reason.find("str.zfill()") != std::string::npos);
  const auto loop = from("{% for m in messages recursive %}{% endfor %}").render_json(kUser, false);
  REQUIRE(!loop.ok());
  CHECK(loop.error().code == ErrorCode::unsupported);
  CHECK(loop.error().reason.find("recursive") != std::string::npos);
}

TEST_CASE("raise_exception fails the render with the template's message", "[chat_template][errors]") {
  const auto t = from("{% if messages[0]['role'] != 'system' %}\n{{ raise_exception('System message required') }}\n{% endif %}");
  const auto r = t.render_json(kUser, true);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().thing == "models/x/tokenizer_config.json chat_template line 2");
  CHECK(r.error().reason.find("System message required") != std::string::npos);
  CHECK(!r.error().fix.empty());
}

TEST_CASE("a syntax error names its line", "[chat_template][errors]") {
  const auto r = from("ok\n{% if messages %}\n{{ 1 + }}\n{% endif %}").render_json(kUser, true);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::corrupt_input);
  CHECK(r.error().thing == "models/x/tokenizer_config.json chat_template line 3");
  const auto unclosed = from("{% for m in messages %}{{ m.role }}").render_json(kUser, true);
  REQUIRE(!unclosed.ok());
  CHECK(unclosed.error().reason.find("endfor") != std::string::npos);
}

TEST_CASE("changing a list in the template is refused as transformers' sandbox refuses it", "[chat_template][errors]") {
  const auto r = from("{% set xs = [] %}{% set _ = xs.append(1) %}").render_json(kUser, false);
  REQUIRE(!r.ok());
  CHECK(r.error().reason.find("unsafe") != std::string::npos);
}

TEST_CASE("a model without a template has none to render", "[chat_template][errors]") {
  const auto t = qrun::tok::ChatTemplate::from_source(std::nullopt, "m/tokenizer_config.json");
  CHECK(!t.supported());
  const auto r = t.render_json(kUser, true);
  REQUIRE(!r.ok());
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().thing == "m/tokenizer_config.json chat_template");
}

TEST_CASE("chat_template.jinja beside tokenizer_config.json is the template, as in transformers", "[chat_template]") {
  const auto dir = temp_dir("chat-template-sidecar");
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "config", "eos_token": "</s>"})";
  std::ofstream(dir / "chat_template.jinja") << "{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}\n";
  auto t = qrun::tok::ChatTemplate::load(dir);
  REQUIRE(t.ok());
  const auto r = t->render_json(kUser, false);
  REQUIRE(r.ok());
  CHECK(*r == "Hi</s>");  // jinja2 drops the file's one trailing newline
}

TEST_CASE("a named template list uses its default entry", "[chat_template]") {
  const auto dir = temp_dir("chat-template-list");
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ messages|length }}"}]})";
  auto t = qrun::tok::ChatTemplate::load(dir);
  REQUIRE(t.ok());
  const auto r = t->render_json(kUser, false);
  REQUIRE(r.ok());
  CHECK(*r == "D1");
}
