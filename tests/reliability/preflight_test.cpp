// Plan-time checks (framework/src/preflight, qrun/check.hpp) called directly: what a model folder's
// headers say, the output folder and memory checks, and the registry serving plugins' checks.
#include "bad_input_fixture.hpp"
#include "preflight/preflight.hpp"
#include "registry/registry.hpp"

#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

qrun::PluginUse hf_model(const fs::path& path) {
  qrun::PluginUse use;
  use.use = "hf";
  use.params["path"] = path.string();
  use.where = "exp.toml:5:1";
  return use;
}

}  // namespace

TEST_CASE("describe_model reads tiny-qwen2's headers without loading weights", "[reliability][preflight]") {
  auto info = qrun::describe_model(hf_model(asset("models/tiny-qwen2")));
  REQUIRE(info.ok());
  CHECK(info->architecture == "Qwen2ForCausalLM");
  // Independent count from the file's header (printed by a Python json read of the header):
  // embed + norm + 2 layers x 12 tensors.
  CHECK(info->tensors.size() == 26);
  std::size_t linear = 0;
  for (const auto& t : info->tensors) linear += qrun::ModelInfo::is_linear_weight(t) ? 1 : 0;
  CHECK(linear == 14);  // q, k, v, o, gate, up, down per layer; not the embeddings
  // BF16 weights: 2 bytes per element; embed 151936 x 64 dominates.
  CHECK(info->weight_bytes > 151936ull * 64 * 2);
  CHECK(info->weight_bytes < 20'000'000);
}

TEST_CASE("describe_model leaves a hub id to the backend and refuses a missing folder", "[reliability][preflight]") {
  auto hub = qrun::describe_model(hf_model("Qwen/Qwen2.5-0.5B-Instruct"));
  REQUIRE(hub.ok());
  CHECK(hub->tensors.empty());
  auto missing = qrun::describe_model(hf_model("/nonexistent/qrun/model"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == qrun::ErrorCode::not_found);
  CHECK(missing.error().message() ==
        "exp.toml:5:1 model.path: '/nonexistent/qrun/model' does not exist; fix: give a model folder, or a hub id such as "
        "Qwen/Qwen2.5-0.5B-Instruct");
}

TEST_CASE("check_memory refuses a model whose baseline and variant exceed the RAM", "[reliability][preflight][resources]") {
  qrun::ModelInfo info;
  info.folder = "/models/big";
  info.weight_bytes = 3ull << 30;  // 3 GiB of weights; the run holds 6 GiB
  CHECK(qrun::check_memory(info, 8ull << 30).ok());
  auto refused = qrun::check_memory(info, 4ull << 30);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == qrun::ErrorCode::resource);
  CHECK(refused.error().message() ==
        "/models/big: its weights take 3 GiB; a run holds the baseline and one variant (6 GiB), more than this "
        "machine's 4 GiB of RAM; fix: use a smaller model, or a machine with more memory");
  qrun::ModelInfo unknown;
  CHECK(qrun::check_memory(unknown, 1).ok());  // nothing known: nothing refused
}

TEST_CASE("check_output_dir: name length, writability, free space", "[reliability][preflight][resources]") {
  const fs::path dir = temp_dir("preflight_output");
  CHECK(qrun::check_output_dir(dir / "a" / "b", qrun::kMinFreeOutputBytes).ok());
  const std::string long_name(256, 'n');
  auto too_long = qrun::check_output_dir(dir / long_name, 0);
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().reason.find("is 256 bytes, longer than the file system's limit of 255") != std::string::npos);
  CHECK(qrun::check_output_dir(dir / std::string(255, 'n'), 0).ok());
  write_text(dir / "file", "x");
  auto not_dir = qrun::check_output_dir(dir / "file", 0);
  REQUIRE_FALSE(not_dir.ok());
  CHECK(not_dir.error().message() == (dir / "file").string() + ": is not a folder; fix: pass --output DIR naming a folder");
  auto no_room = qrun::check_output_dir(dir, ~0ull);  // more than any disk has
  REQUIRE_FALSE(no_room.ok());
  CHECK(no_room.error().code == qrun::ErrorCode::resource);
}

TEST_CASE("plugins' plan-time checks are served by the registry", "[reliability][preflight][registry]") {
  const auto registry = qrun::Registry::load({QRUN_BUILD_PLUGIN_DIR_FOR_TESTS});
  for (const char* name : {"hf", "nf4", "rtn"}) {
    INFO(name);
    CHECK(registry.check_of(name) != nullptr);
  }
  CHECK(registry.check_of("model_size") == nullptr);  // exports no checks
  auto info = qrun::describe_model(hf_model(asset("models/tiny-qwen2")));
  REQUIRE(info.ok());
  qrun::ParamMap rtn = {{"bits", std::int64_t{4}}, {"group_size", std::int64_t{16}}, {"symmetric", false},
                        {"include", std::vector<std::string>{}}, {"exclude", std::vector<std::string>{"lm_head"}}};
  CHECK(registry.check_of("rtn")(rtn, *info).ok());  // 16 divides 64 and 176
  rtn["group_size"] = std::int64_t{128};            // the default: 176 % 128 != 0
  auto refused = registry.check_of("rtn")(rtn, *info);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message() ==
        "group_size: 128 does not divide model.layers.0.mlp.down_proj's 176 input features; fix: use a group size that "
        "divides every selected layer's input features, -1, or exclude model.layers.0.mlp.down_proj");
}
