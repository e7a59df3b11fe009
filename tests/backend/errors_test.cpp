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
  const auto dir = stories_copy("hf_arch", [](auto& c) { c["architectures"] = {"MambaForCausalLM"}; });
  auto m = try_load_model(dir);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().thing == (dir / "config.json").string() + " architectures");
  CHECK(contains(m.error().reason, "MambaForCausalLM"));
  CHECK(contains(m.error().fix, "LlamaForCausalLM"));
}

TEST_CASE("a RoPE type qrun does not implement is refused by name", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_rope", [](auto& c) {
    c.erase("rope_parameters");
    c["rope_scaling"] = {{"rope_type", "proportional"}, {"factor", 2.0}};
  });
  auto cfg = qrun::hf::read_config(dir);
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().thing == (dir / "config.json").string() + " rope_scaling.rope_type");
  CHECK(contains(cfg.error().reason, "proportional"));
  CHECK(cfg.error().code == qrun::ErrorCode::unsupported);
  CHECK(contains(cfg.error().fix, "llama3"));
}

TEST_CASE("a RoPE key qrun does not implement is refused by name", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_rope_key", [](auto& c) {
    c.erase("rope_parameters");  // the transformers-4 form
    c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}, {"mrope_section", {16, 24, 24}}};
  });
  auto cfg = qrun::hf::read_config(dir);
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().thing == (dir / "config.json").string() + " rope_scaling.mrope_section");
}

TEST_CASE("a llama3 RoPE without its frequency factors is refused naming the missing key", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_llama3_rope", [](auto& c) {
    c.erase("rope_parameters");  // the transformers-4 form
    c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0}};
  });
  auto cfg = qrun::hf::read_config(dir);
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().thing == (dir / "config.json").string() + " rope_scaling.low_freq_factor");
  CHECK(contains(cfg.error().reason, "missing"));
}

TEST_CASE("rope_scaling and rope_parameters that disagree are refused", "[backend][errors][config]") {
  const auto dir = stories_copy("hf_rope_both", [](auto& c) {
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};  // beside stories260K's default rope_parameters
  });
  auto cfg = qrun::hf::read_config(dir);
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().thing == (dir / "config.json").string() + " rope_scaling");
}

TEST_CASE("the RoPE types read from either config form", "[backend][config]") {
  // transformers-4 keys: `type`, top-level rope_theta; Phi-3's "su" is LongRoPE with the
  // top-level original_max_position_embeddings taking precedence.
  const auto yarn = stories_copy("hf_yarn_v4", [](auto& c) {
    c.erase("rope_parameters");  // the transformers-4 form
    c["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
  });
  auto y = qrun::hf::read_config(yarn);
  REQUIRE(y.ok());
  CHECK(y->arch.rope.type == "yarn");
  CHECK(y->arch.rope.factor == 4.0);
  CHECK(y->arch.rope.original_max_position_embeddings == 64);
  CHECK(y->arch.rope.theta == 10000.0);
  const auto phi = stories_copy("hf_phi_su", [](auto& c) {
    c["architectures"] = {"Phi3ForCausalLM"};
    c["original_max_position_embeddings"] = 128;
    c.erase("rope_parameters");  // the transformers-4 form
    c["rope_scaling"] = {{"type", "su"}, {"short_factor", {1.0, 1.5, 2.0, 2.5}}, {"long_factor", {1.0, 2.0, 3.0, 4.0}}};
  });
  auto p = qrun::hf::read_config(phi);
  REQUIRE(p.ok());
  CHECK(p->arch.rope.type == "longrope");
  CHECK(p->arch.rope.original_max_position_embeddings == 128);
  CHECK(p->arch.rope.long_factor == std::vector<double>{1.0, 2.0, 3.0, 4.0});
  // A factor list of the wrong length (head_dim 8: 4 pairs) is refused.
  const auto bad = stories_copy("hf_phi_short", [](auto& c) {
    c["architectures"] = {"Phi3ForCausalLM"};
    c.erase("rope_parameters");  // the transformers-4 form
    c["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0}}, {"long_factor", {1.0, 2.0, 3.0, 4.0}}};
  });
  auto b = qrun::hf::read_config(bad);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().thing == (bad / "config.json").string() + " rope_scaling.short_factor");
}

TEST_CASE("Qwen2's use_sliding_window slides the layers from max_window_layers on", "[backend][config]") {
  const auto dir = temp_dir("hf_sliding");
  auto cfg = read_json(asset("models/tiny-qwen2/config.json"));
  cfg.erase("layer_types");  // transformers-4 form: derived from use_sliding_window and max_window_layers
  cfg["use_sliding_window"] = true;
  cfg["sliding_window"] = 16;
  cfg["max_window_layers"] = 1;
  std::ofstream(dir / "config.json") << cfg.dump();
  auto r = qrun::hf::read_config(dir);
  REQUIRE(r.ok());
  CHECK(r->arch.sliding == std::vector<bool>{false, true});
  CHECK(r->arch.sliding_window == 16);
}

TEST_CASE("sliding_attention layers without a sliding window are refused", "[backend][errors][config]") {
  const auto dir = temp_dir("hf_sliding_none");
  auto cfg = read_json(asset("models/tiny-qwen2/config.json"));
  cfg["layer_types"] = {"sliding_attention", "full_attention"};
  std::ofstream(dir / "config.json") << cfg.dump();
  auto r = qrun::hf::read_config(dir);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().thing == (dir / "config.json").string() + " layer_types");
  CHECK(contains(r.error().fix, "use_sliding_window"));
}

TEST_CASE("Gemma 3 in the transformers-4 form: sliding_window_pattern and rope_local_base_freq", "[backend][config]") {
  auto r = qrun::hf::read_config(asset("models/arch-zoo/gemma3"));
  REQUIRE(r.ok());
  const auto dir = temp_dir("hf_gemma3_v4");
  std::filesystem::copy_file(asset("models/arch-zoo/gemma3/config.v4.json"), dir / "config.json");
  auto v4 = qrun::hf::read_config(dir);
  REQUIRE(v4.ok());
  CHECK(v4->arch.sliding == r->arch.sliding);
  CHECK(v4->arch.sliding == std::vector<bool>{true, true, true, true, true, false});
  REQUIRE(v4->arch.local_rope);
  CHECK(v4->arch.local_rope->theta == 10000.0);
  CHECK(v4->arch.rope.theta == 1e6);
  CHECK(v4->arch.rope.type == "linear");
  CHECK(v4->arch.rope.factor == 8.0);
  CHECK_FALSE(v4->arch.attn_softcap);
  CHECK(v4->arch.attn_scaling == 0.25);  // query_pre_attn_scalar 16
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
