// The npm tokenizers' own chat templates (Llama 3.1, Gemma 3, Qwen3, Llama 2) and llama.cpp's
// collection against transformers' renders (tests/golden/chat_templates/hf_renders.json, made on
// the GPU machine by bench/reference/chat_template_goldens.py). A missing golden fails.
#include "golden_fixtures.hpp"

#include "tokenizer/chat_template.hpp"

#include <qrun/tokenizer.hpp>

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

const char* kMakeGolden =
    "on the GPU machine: bash tests/support/fetch_npm_tokenizers.sh /tmp/npm_tokenizers && "
    "python3 bench/reference/chat_template_goldens.py --tokenizers /tmp/npm_tokenizers, then commit "
    "tests/golden/chat_templates/hf_renders.json";

const nlohmann::ordered_json& hf_renders() {
  static const nlohmann::ordered_json golden = chat_golden("hf_renders.json", kMakeGolden);
  return golden;
}

nlohmann::ordered_json kwargs_of(const nlohmann::ordered_json& r) {
  return r.contains("kwargs") ? r["kwargs"] : nlohmann::ordered_json::object();
}

}  // namespace

TEST_CASE("the npm tokenizers' templates render as transformers' apply_chat_template", "[chat_template][npm]") {
  const auto& renders = hf_renders()["renders"];
  REQUIRE(renders.size() >= 30);
  int texts = 0, refusals = 0;
  for (const auto& r : renders) {
    const std::string name = r["tokenizer"].get<std::string>();
    INFO(name << " / " << r["case"].get<std::string>() << " / add_generation_prompt=" << r["add_generation_prompt"]);
    auto chat = qrun::tok::ChatTemplate::load(npm_tokenizer(name));
    REQUIRE(chat.ok());
    const auto out = chat->render_json(r["messages"], r["add_generation_prompt"].get<bool>(), kwargs_of(r));
    if (r.contains("text")) {
      INFO((out.ok() ? std::string() : out.error().message()));
      REQUIRE(out.ok());
      CHECK(*out == r["text"].get<std::string>());
      ++texts;
    } else {
      INFO("transformers: " << r["error"].get<std::string>());
      CHECK(!out.ok());
      ++refusals;
    }
  }
  CHECK(texts >= 25);
  CHECK(refusals >= 2);  // Llama 2 has no template; Gemma 3 refuses roles that do not alternate
}

TEST_CASE("a rendered npm chat encodes to transformers' apply_chat_template ids", "[chat_template][npm]") {
  std::map<std::string, std::unique_ptr<qrun::Tokenizer>> tokenizers;
  for (const auto& r : hf_renders()["renders"]) {
    if (!r.contains("ids")) continue;
    const std::string name = r["tokenizer"].get<std::string>();
    INFO(name << " / " << r["case"].get<std::string>());
    if (!tokenizers.count(name)) {
      auto t = qrun::load_hf_tokenizer(npm_tokenizer(name));
      REQUIRE(t.ok());
      tokenizers[name] = std::move(*t);
    }
    CHECK(tokenizers[name]->encode(r["text"].get<std::string>(), false) == r["ids"].get<std::vector<std::int64_t>>());
  }
}

TEST_CASE("the special-token variables are those transformers gives the template", "[chat_template][npm]") {
  for (const auto& [name, info] : hf_renders()["tokenizers"].items()) {
    INFO(name);
    auto chat = qrun::tok::ChatTemplate::load(npm_tokenizer(name));
    REQUIRE(chat.ok());
    nlohmann::ordered_json ours = nlohmann::ordered_json::object();
    for (const auto& [key, value] : chat->special_tokens()) {
      if (value.is_string()) {
        ours[key] = value.as_string();
      } else {
        ours[key] = nlohmann::ordered_json::array();
        for (const auto& v : value.as_list()) ours[key].push_back(v.as_string());
      }
    }
    const auto& theirs = info["template_variables"];
    for (const auto& [key, value] : theirs.items()) {
      INFO(key);
      REQUIRE(ours.contains(key));
      CHECK(ours[key] == value);
    }
    for (const auto& [key, value] : ours.items()) {
      INFO(key);
      CHECK(theirs.contains(key));
    }
  }
}

TEST_CASE("llama.cpp's collection renders as transformers renders it", "[chat_template][npm]") {
  const auto cases = chat_golden("llama_cpp_cases.json")["cases"];
  const auto& hf = hf_renders()["llama_cpp"];
  REQUIRE(hf.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    INFO(c["name"].get<std::string>());
    REQUIRE(hf[i]["name"] == c["name"]);
    nlohmann::ordered_json context = {{"messages", c["messages"]},
                                      {"add_generation_prompt", c["add_generation_prompt"]},
                                      {"bos_token", c["bos_token"]},
                                      {"eos_token", c["eos_token"]},
                                      {"tools", nullptr},
                                      {"documents", nullptr}};
    const auto r = render_template(c["template"].get<std::string>(), context, c["name"].get<std::string>());
    REQUIRE(hf[i].contains("text"));
    REQUIRE(r.ok());
    CHECK(*r == hf[i]["text"].get<std::string>());
  }
}
