// Bad configs, checkpoints and model references: one Error each, naming the thing.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include "hf_config.hpp"
#include "hub.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

using namespace qrun::test;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A copy of stories260K (1 MB) whose config.json is edited by `edit`.
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

// Rewrites dir/model.safetensors through `edit` on its tensors.
void rewrite_weights(const std::filesystem::path& dir, const std::function<void(qrun::NamedTensors&)>& edit) {
  auto f = qrun::SafetensorsFile::open(dir / "model.safetensors");
  REQUIRE(f.ok());
  qrun::NamedTensors tensors;
  for (const auto& e : f->entries()) tensors.emplace_back(e.name, *f->load(e.name));
  edit(tensors);
  REQUIRE(qrun::write_safetensors(dir / "model.safetensors", tensors).ok());
}

struct EnvVar {  // sets an environment variable for one test
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("a config with an unknown architecture is refused by name", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_arch", [](auto& c) { c["architectures"] = {"MistralForCausalLM"}; });
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().thing == (dir / "config.json").string() + " architectures");
  CHECK(contains(m.error().reason, "MistralForCausalLM"));
  CHECK(contains(m.error().fix, "LlamaForCausalLM"));
}

TEST_CASE("an unsupported rope_scaling type is refused by name", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_rope", [](auto& c) { c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
  auto cfg = qrun::hf::read_config(dir);
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().thing == (dir / "config.json").string() + " rope_scaling");
  CHECK(contains(cfg.error().reason, "yarn"));
  CHECK_FALSE(cfg.error().fix.empty());
}

TEST_CASE("enabled sliding-window attention is refused", "[backend][errors][config]") {
  const auto dir = temp_dir("hf_sliding");
  auto cfg = read_json(asset("models/tiny-qwen2/config.json"));
  cfg["use_sliding_window"] = true;
  std::ofstream(dir / "config.json") << cfg.dump();
  auto r = qrun::hf::read_config(dir);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == (dir / "config.json").string() + " use_sliding_window");
}

TEST_CASE("an activation other than silu is refused", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_act", [](auto& c) { c["hidden_act"] = "gelu"; });
  auto r = qrun::hf::read_config(dir);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == (dir / "config.json").string() + " hidden_act");
}

TEST_CASE("rope_theta is read from rope_parameters when the top-level key is absent", "[backend][config]") {
  const auto dir = stories_copy("hf_theta", [](auto& c) {
    c.erase("rope_theta");
    c["rope_parameters"]["rope_theta"] = 5000.0;
  });
  auto r = qrun::hf::read_config(dir);
  REQUIRE(r.ok());
  CHECK(r->model.rope_theta == 5000.0);
  CHECK(r->model.num_key_value_heads == 4);
  CHECK(r->model.head_dim == 8);
  CHECK(r->model.eos_token_ids == std::vector<std::int64_t>{2});
}

TEST_CASE("a checkpoint missing a tensor is refused naming it", "[backend][errors][checkpoint]") {
  const auto dir = stories_copy("hf_missing");
  rewrite_weights(dir, [](qrun::NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](auto& p) { return p.first == "model.layers.3.mlp.up_proj.weight"; }),
            t.end());
  });
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(contains(m.error().thing, "model.layers.3.mlp.up_proj.weight"));
  CHECK(contains(m.error().reason, "missing"));
}

TEST_CASE("a checkpoint tensor of the wrong shape is refused naming it", "[backend][errors][checkpoint]") {
  const auto dir = stories_copy("hf_shape");
  rewrite_weights(dir, [](qrun::NamedTensors& t) {
    for (auto& [name, x] : t)
      if (name == "model.layers.0.self_attn.k_proj.weight") x = at::zeros({16, 64});
  });
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().thing == "model.layers.0.self_attn.k_proj.weight");
  CHECK(contains(m.error().reason, "[32, 64]"));
}

TEST_CASE("a checkpoint tensor the architecture has no place for is refused", "[backend][errors][checkpoint]") {
  const auto dir = stories_copy("hf_extra");
  rewrite_weights(dir, [](qrun::NamedTensors& t) { t.emplace_back("model.layers.9.mlp.up_proj.weight", at::zeros({2})); });
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(contains(m.error().thing, "model.layers.9.mlp.up_proj.weight"));
}

TEST_CASE("a truncated model.safetensors is refused through the backend", "[backend][errors][checkpoint]") {
  const auto dir = stories_copy("hf_truncated");
  std::filesystem::resize_file(dir / "model.safetensors", 5000);
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(contains(m.error().thing, (dir / "model.safetensors").string()));
}

TEST_CASE("a hub id missing from the cache while offline says what to run", "[backend][errors][hub]") {
  const auto home = temp_dir("hf_home_offline");
  EnvVar hf_home("HF_HOME", home.string());
  EnvVar offline("HF_HUB_OFFLINE", "1");
  auto r = qrun::hf::resolve_model("Qwen/Qwen2.5-0.5B-Instruct", test_context());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "Qwen/Qwen2.5-0.5B-Instruct");
  CHECK(contains(r.error().fix, "huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct"));
}

TEST_CASE("a hub id in the cache resolves to the snapshot refs/main names", "[backend][hub]") {
  const auto home = temp_dir("hf_home_cached");
  const auto repo = home / "hub" / "models--Org--Tiny-Model";
  std::filesystem::create_directories(repo / "snapshots" / "abc123");
  std::filesystem::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << "abc123";
  std::ofstream(repo / "snapshots" / "abc123" / "config.json") << "{}";
  EnvVar hf_home("HF_HOME", home.string());
  EnvVar offline("HF_HUB_OFFLINE", "1");
  auto r = qrun::hf::resolve_model("Org/Tiny-Model", test_context());
  REQUIRE(r.ok());
  CHECK(*r == repo / "snapshots" / "abc123");
}

TEST_CASE("a model path that is neither a folder nor a hub id is refused", "[backend][errors][hub]") {
  auto r = qrun::hf::resolve_model("/no/such/folder", test_context());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == "path '/no/such/folder'");
  CHECK_FALSE(r.error().fix.empty());
}
