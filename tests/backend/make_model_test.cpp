// qrun make-model writes a model the hf backend loads and runs; qrun generate runs it through
// the registry's "hf" plugin.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace qrun::test;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path make(const std::string& name, int seed) {
  const auto dir = temp_dir(name) / "model";
  const auto r = run_command(qrun_exe().string() + " make-model --preset tiny --seed " + std::to_string(seed) +
                             " --out " + dir.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return dir;
}

}  // namespace

TEST_CASE("make-model writes a Qwen2 folder that loads, tokenizes and generates", "[backend][make_model]") {
  const auto dir = make("make_model_runs", 1);
  auto model = load_model(dir, "auto");
  CHECK(model->config().architecture == "Qwen2ForCausalLM");
  CHECK(model->storage_dtype() == qrun::DType::f32);
  const auto ids = model->tokenizer().encode("the cat sat on the mat", false);
  CHECK(model->tokenizer().decode(ids, false) == "the cat sat on the mat");
  CHECK(ids.size() < std::string("the cat sat on the mat").size());  // merges apply
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 8;
  auto out = model->generate({ids}, cfg);
  REQUIRE(out.ok());
  CHECK(!out->front().tokens.empty());
  auto chat = model->tokenizer().apply_chat_template({{"user", "hi"}}, true);
  REQUIRE(chat.ok());
  CHECK(chat->rfind("<|im_start|>assistant\n") == chat->size() - 22);
}

TEST_CASE("make-model is deterministic for a seed", "[backend][make_model]") {
  const auto a = make("make_model_seed_a", 5), b = make("make_model_seed_b", 5), c = make("make_model_seed_c", 6);
  CHECK(slurp(a / "model.safetensors") == slurp(b / "model.safetensors"));
  CHECK(slurp(a / "tokenizer.json") == slurp(b / "tokenizer.json"));
  CHECK(slurp(a / "model.safetensors") != slurp(c / "model.safetensors"));
}

TEST_CASE("make-model refuses a non-empty output folder", "[backend][make_model][errors]") {
  const auto dir = make("make_model_exists", 1);
  const auto r = run_command(qrun_exe().string() + " make-model --out " + dir.string());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("exists and is not empty") != std::string::npos);
}

TEST_CASE("qrun generate runs a model through the hf plugin", "[backend][cli][generate]") {
  const auto dir = make("generate_cli", 2);
  const auto plain = run_command(qrun_exe().string() + " generate --model " + dir.string() +
                                 " --prompt 'the cat' --max-new-tokens 5 --ids");
  INFO(plain.output);
  CHECK(plain.exit_code == 0);
  const auto chat = run_command(qrun_exe().string() + " generate --model " + dir.string() +
                                " --prompt 'hello' --chat --sample --temperature 0.8 --top-p 0.9 --top-k 20 "
                                "--seed 3 --max-new-tokens 5");
  INFO(chat.output);
  CHECK(chat.exit_code == 0);
}

TEST_CASE("qrun generate on a missing model exits non-zero with one error line", "[backend][cli][errors]") {
  const auto r = run_command(qrun_exe().string() + " generate --model /no/such/model --prompt hi");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("error: path '/no/such/model'") != std::string::npos);
}
