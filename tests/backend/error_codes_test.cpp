// Error codes of representative failures (error.hpp's ErrorCode): callers branch on the code, so
// each kind of failure must carry its own, whatever the message says.
#include "backend/fixture.hpp"
#include "experiment/experiment.hpp"
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>

using namespace qrun::test;
using qrun::ErrorCode;

namespace {

// A copy of stories260K's files in a fresh folder, config.json edited by `edit` (if given).
std::filesystem::path stories_copy(const std::string& name, const std::function<void(nlohmann::json&)>& edit = {}) {
  const auto src = asset("models/stories260K");
  const auto dir = temp_dir(name);
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                        "tokenizer_config.json"})
    std::filesystem::copy_file(src / f, dir / f);
  if (edit) {
    auto cfg = read_json(dir / "config.json");
    edit(cfg);
    std::filesystem::remove(dir / "config.json");
    std::ofstream(dir / "config.json") << cfg.dump(2);
  }
  return dir;
}

ErrorCode load_error_code(const std::filesystem::path& dir) {
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  INFO(m.error().message());
  return m.error().code;
}

}  // namespace

TEST_CASE("a model folder that does not exist is not_found", "[backend][errors][codes]") {
  CHECK(load_error_code("/no/such/qrun-model-folder") == ErrorCode::not_found);
  // A folder without the checkpoint's files is not_found too (config.json is read first).
  CHECK(load_error_code(temp_dir("codes_empty_model")) == ErrorCode::not_found);
}

TEST_CASE("a truncated safetensors file is corrupt_input", "[backend][errors][codes]") {
  const auto dir = stories_copy("codes_truncated");
  std::filesystem::resize_file(dir / "model.safetensors", 5000);
  auto f = qrun::SafetensorsFile::open(dir / "model.safetensors");
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == ErrorCode::corrupt_input);
  CHECK(load_error_code(dir) == ErrorCode::corrupt_input);
}

TEST_CASE("an architecture qrun does not implement is unsupported", "[backend][errors][codes]") {
  const auto dir = stories_copy("codes_arch", [](auto& c) { c["architectures"] = {"MambaForCausalLM"}; });
  CHECK(load_error_code(dir) == ErrorCode::unsupported);
}

TEST_CASE("malformed config.json is corrupt_input, a missing tensor not_found", "[backend][errors][codes]") {
  const auto bad_json = stories_copy("codes_bad_json");
  std::filesystem::remove(bad_json / "config.json");
  std::ofstream(bad_json / "config.json") << "{\"architectures\": [";
  CHECK(load_error_code(bad_json) == ErrorCode::corrupt_input);

  const auto missing = stories_copy("codes_missing_tensor");
  auto f = qrun::SafetensorsFile::open(missing / "model.safetensors");
  REQUIRE(f.ok());
  qrun::NamedTensors kept;
  for (const auto& e : f->entries()) {
    if (e.name != "model.layers.1.mlp.down_proj.weight") kept.emplace_back(e.name, *f->load(e.name));
  }
  REQUIRE(qrun::write_safetensors(missing / "model.safetensors", kept).ok());
  CHECK(load_error_code(missing) == ErrorCode::not_found);
}

TEST_CASE("an unknown plugin and a missing experiment file are not_found, bad TOML corrupt_input",
          "[backend][errors][codes]") {
  const qrun::Registry none;
  auto plugin = none.find("no_such_quantizer", qrun::Kind::transform);
  REQUIRE_FALSE(plugin.ok());
  CHECK(plugin.error().code == ErrorCode::not_found);

  auto file = qrun::load_experiment("/no/such/experiment.toml", none);
  REQUIRE_FALSE(file.ok());
  CHECK(file.error().code == ErrorCode::not_found);

  auto toml = qrun::parse_experiment("[experiment\nname = 1\n", "x.toml", none);
  REQUIRE_FALSE(toml.ok());
  CHECK(toml.error().code == ErrorCode::corrupt_input);
}
