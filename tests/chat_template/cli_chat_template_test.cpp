// `qrun chat-template`: the rendered prompt exactly (no newline added), or its ids on one line.
#include "golden_fixtures.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun::test;

namespace {

// tiny-qwen2/golden/tokens.json: this conversation as transformers renders it with the Qwen2.5
// template, and its ids.
const char* kConversation =
    R"([{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}])";

std::string golden_chat_text() {
  return "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
         "<|im_start|>assistant\n";
}

std::string command(const std::filesystem::path& conv, const std::string& extra) {
  const std::string model = asset("models/tiny-qwen2/tokenizer_config.json").parent_path().string();
  return qrun_exe().string() + " chat-template --model " + model + " --messages " + conv.string() + extra;
}

}  // namespace

TEST_CASE("qrun chat-template prints the prompt transformers renders, byte for byte", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-text");
  std::ofstream(dir / "conv.json") << kConversation;
  const auto r = run_command(command(dir / "conv.json", " --add-generation-prompt"));
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == golden_chat_text());
}

TEST_CASE("qrun chat-template --ids prints the golden ids on one line", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-ids");
  std::ofstream(dir / "conv.json") << kConversation;
  const auto r = run_command(command(dir / "conv.json", " --add-generation-prompt --ids"));
  REQUIRE(r.exit_code == 0);
  std::ifstream in(asset("models/tiny-qwen2/golden/tokens.json"));
  const auto tokens = nlohmann::json::parse(in);
  std::string expected;
  for (const auto& t : tokens) {
    if (t["text"] != golden_chat_text()) continue;
    for (const auto& id : t["ids"]) expected += (expected.empty() ? "" : " ") + std::to_string(id.get<long long>());
  }
  REQUIRE(!expected.empty());
  CHECK(r.output == expected + "\n");
}

TEST_CASE("qrun chat-template without the generation prompt ends after the last turn", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-nogen");
  std::ofstream(dir / "conv.json") << kConversation;
  const auto r = run_command(command(dir / "conv.json", ""));
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == golden_chat_text().substr(0, golden_chat_text().size() - std::string("<|im_start|>assistant\n").size()));
}

TEST_CASE("qrun chat-template refuses a message without content in one error line", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-bad");
  std::ofstream(dir / "conv.json") << R"([{"role": "user"}])";
  const auto r = run_command(command(dir / "conv.json", ""));
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("is not a message with \"role\" and \"content\"; fix:") != std::string::npos);
}

TEST_CASE("qrun chat-template on a model without a template says so", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-none");
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<s>"})";
  std::ofstream(dir / "conv.json") << kConversation;
  const auto r = run_command(qrun_exe().string() + " chat-template --model " + dir.string() + " --messages " +
                             (dir / "conv.json").string());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("chat_template: is missing") != std::string::npos);
}

TEST_CASE("qrun chat-template passes --kwarg values to the template", "[chat_template][cli]") {
  const auto dir = temp_dir("chat-template-cli-kwarg");
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": "{{ messages[0].content }}{% if enable_thinking is false %}/no_think{% endif %}"})";
  std::ofstream(dir / "conv.json") << R"([{"role": "user", "content": "Hi"}])";
  const std::string base = qrun_exe().string() + " chat-template --model " + dir.string() + " --messages " +
                           (dir / "conv.json").string();
  CHECK(run_command(base).output == "Hi");
  CHECK(run_command(base + " --kwarg enable_thinking=false").output == "Hi/no_think");
}
