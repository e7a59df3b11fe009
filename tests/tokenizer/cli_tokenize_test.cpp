// `qrun tokenize`: ids on stdout, decode back, errors as one line with a non-zero exit.
#include "tokenizer_fixtures.hpp"

#include "support/assets.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {
std::string model_dir(const std::string& model) { return asset("models/" + model + "/tokenizer.json").parent_path().string(); }
}  // namespace

TEST_CASE("qrun tokenize prints the ids space separated", "[tokenizer][cli]") {
  const auto dir = temp_dir("tokenizer-cli-encode");
  write_file(dir / "in.txt", "Hello world");
  const auto r = run_command(qrun_exe().string() + " tokenize --model " + model_dir("tiny-qwen2") + " --text " +
                             (dir / "in.txt").string());
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == "9707 1879\n");
}

TEST_CASE("qrun tokenize adds BOS unless --no-special", "[tokenizer][cli]") {
  const auto dir = temp_dir("tokenizer-cli-bos");
  write_file(dir / "in.txt", "hello");
  const std::string base = qrun_exe().string() + " tokenize --model " + model_dir("stories260K") + " --text " +
                           (dir / "in.txt").string();
  const auto with = run_command(base);
  const auto without = run_command(base + " --no-special");
  REQUIRE(with.exit_code == 0);
  REQUIRE(without.exit_code == 0);
  CHECK(with.output == "1 281 306 414\n");  // stories260K golden/tokens.json "hello"
  CHECK(without.output == "281 306 414\n");
}

TEST_CASE("qrun tokenize --decode prints the text of ids", "[tokenizer][cli]") {
  const auto dir = temp_dir("tokenizer-cli-decode");
  write_file(dir / "ids.txt", "9707 11 1879 0\n");
  const auto r = run_command(qrun_exe().string() + " tokenize --decode --model " + model_dir("tiny-qwen2") +
                             " --text " + (dir / "ids.txt").string());
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == "Hello, world!");
}

TEST_CASE("qrun tokenize --decode refuses a non-id", "[tokenizer][cli]") {
  const auto dir = temp_dir("tokenizer-cli-bad-id");
  write_file(dir / "ids.txt", "12 abc");
  const auto r = run_command(qrun_exe().string() + " tokenize --decode --model " + model_dir("tiny-qwen2") +
                             " --text " + (dir / "ids.txt").string());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("\"abc\" is not a token id") != std::string::npos);
}

TEST_CASE("qrun tokenize on a folder without tokenizer.json fails with one error line", "[tokenizer][cli]") {
  const auto dir = temp_dir("tokenizer-cli-missing");
  const auto r = run_command(qrun_exe().string() + " tokenize --model " + dir.string() + " --text /dev/null");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("tokenizer.json: does not exist; fix:") != std::string::npos);
}
