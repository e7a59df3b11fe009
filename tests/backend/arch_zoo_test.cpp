// The decoder families against transformers 5.17's own outputs: shared/models/arch-zoo holds one
// tiny random checkpoint per family (Llama 3 RoPE, Mistral sliding window, Qwen3 q/k norms,
// Gemma 2 soft-capping and sandwich norms, Gemma 3 local/global RoPE, Phi-3 fused projections,
// Qwen2 YaRN) with float32 eager logits of 64 ids and 24 greedy tokens (see its README). Each is
// checked from its transformers-5 config.json and from the transformers-4 form of the hub
// (config.v4.json): the two must give the same model.
#include "backend/fixture.hpp"
#include "hf_model.hpp"
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/safetensors.hpp>
#include <qrun/transform.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

using namespace qrun::test;

namespace {

const std::vector<std::string> kFamilies = {"llama3", "mistral", "qwen3", "gemma2", "gemma3", "phi3", "qwen2_yarn"};

// The bound: |logit - golden| <= 1e-4 * (1 + |golden|) in float32 (same operations as
// transformers; another BLAS sums in another order, a formula slip moves logits by 1e-2 or more).
constexpr double kRelTol = 1e-4;

std::filesystem::path zoo(const std::string& family) { return asset("models/arch-zoo/" + family); }

// The folder with `config_file` as its config.json ("config.json": the folder itself).
std::filesystem::path with_config(const std::string& family, const std::string& config_file) {
  if (config_file == "config.json") return zoo(family);
  const auto dir = temp_dir("arch_zoo_" + family + "_" + config_file);
  for (const auto& e : std::filesystem::directory_iterator(zoo(family))) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file() && name != "config.json" && name != config_file)
      std::filesystem::copy_file(e.path(), dir / name);
  }
  std::filesystem::copy_file(zoo(family) / config_file, dir / "config.json");
  return dir;
}

// max over positions of |logit - golden| / (1 + |golden|), and max |logit - golden|.
std::pair<double, double> deviation(const at::Tensor& logits, const at::Tensor& golden) {
  const at::Tensor diff = (logits.to(at::kDouble) - golden.to(at::kDouble)).abs();
  return {(diff / (1 + golden.to(at::kDouble).abs())).max().item<double>(), diff.max().item<double>()};
}

std::vector<std::int64_t> ids_of(const at::Tensor& t) {
  const at::Tensor c = t.reshape({-1}).to(at::kLong).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

}  // namespace

TEST_CASE("arch-zoo float32 logits match transformers under both config forms", "[backend][golden][arch_zoo]") {
  for (const auto& family : kFamilies) {
    for (const std::string form : {"config.json", "config.v4.json"}) {
      INFO(family << " with " << form);
      const auto golden = zoo(family) / "golden" / "golden.safetensors";
      auto model = load_model(with_config(family, form), "float32");
      const at::Tensor logits = model->logits(golden_tensor(golden, "input_ids"));
      REQUIRE(logits.sizes() == golden_tensor(golden, "logits").sizes());
      const auto [rel, abs] = deviation(logits, golden_tensor(golden, "logits"));
      std::printf("arch-zoo %-10s %-14s max |dlogit| = %.3g, max |dlogit| / (1 + |logit|) = %.3g\n", family.c_str(),
                  form.c_str(), abs, rel);
      CHECK(rel <= kRelTol);
    }
  }
}

TEST_CASE("arch-zoo greedy generation reproduces transformers' 24 tokens under both config forms",
          "[backend][golden][generate][arch_zoo]") {
  for (const auto& family : kFamilies) {
    for (const std::string form : {"config.json", "config.v4.json"}) {
      INFO(family << " with " << form);
      const auto golden = zoo(family) / "golden" / "golden.safetensors";
      auto model = load_model(with_config(family, form), "float32");
      qrun::GenerationConfig cfg;
      cfg.max_new_tokens = 24;
      auto out = model->generate({ids_of(golden_tensor(golden, "greedy_prompt"))}, cfg);
      REQUIRE(out.ok());
      CHECK(out->front().tokens == ids_of(golden_tensor(golden, "greedy_ids")));
    }
  }
}

TEST_CASE("arch-zoo static-cache greedy generation equals the dynamic cache on a padded batch",
          "[backend][generate][static][arch_zoo]") {
  // Two prompts of different lengths (left padding), 30 new tokens: past Mistral's and Gemma's
  // window of 24, through Phi-3's fused projections and the q/k norms in the one-token step.
  for (const auto& family : kFamilies) {
    INFO(family);
    auto model = load_model(zoo(family), "float32");
    const auto ids = ids_of(golden_tensor(zoo(family) / "golden" / "golden.safetensors", "input_ids"));
    const std::vector<std::vector<std::int64_t>> prompts = {{ids.begin(), ids.begin() + 5},
                                                            {ids.begin() + 10, ids.begin() + 22}};
    qrun::GenerationConfig cfg;
    cfg.max_new_tokens = 30;
    cfg.stop_token_ids = {0};  // random weights: keep going past eos where possible
    auto dynamic = model->generate(prompts, cfg);
    auto fixed = dynamic_cast<qrun::hf::HfModel&>(*model).generate_static(prompts, cfg, /*allow_graph=*/false);
    REQUIRE(dynamic.ok());
    REQUIRE(fixed.ok());
    for (std::size_t i = 0; i < prompts.size(); ++i) CHECK((*fixed)[i].tokens == (*dynamic)[i].tokens);
  }
}

TEST_CASE("arch-zoo padded batches give each row's unpadded logits", "[backend][batching][arch_zoo]") {
  for (const auto& family : kFamilies) {
    INFO(family);
    auto model = load_model(zoo(family), "float32");
    const at::Tensor ids = golden_tensor(zoo(family) / "golden" / "golden.safetensors", "input_ids");
    // Row 0: the first 40 ids; row 1: ids 10..39 left-padded by 10 (30 real tokens: past the window).
    at::Tensor batch = ids.slice(1, 0, 40).repeat({2, 1});
    at::Tensor mask = at::ones({2, 40}, at::kLong);
    batch[1].slice(0, 0, 10).fill_(0);
    mask[1].slice(0, 0, 10).fill_(0);
    const at::Tensor both = model->logits(batch, mask);
    const at::Tensor alone = model->logits(ids.slice(1, 10, 40));
    const auto [rel, abs] = deviation(both[1].slice(0, 10), alone[0]);
    INFO("max |dlogit| = " << abs);
    CHECK(rel <= kRelTol);
    CHECK(deviation(both[0], model->logits(ids.slice(1, 0, 40))[0]).first <= kRelTol);
  }
}

TEST_CASE("arch-zoo float16 and bfloat16 logits stay within their rounding of transformers' float32",
          "[backend][dtype][arch_zoo]") {
  // Not a parity check (the golden is float32): each dtype must run every family and stay within
  // a few of its unit roundoffs (bfloat16 2^-8, float16 2^-11) of the float32 logits, relative
  // to their spread. Measured: bfloat16 <= 0.0134, float16 (computed in float32 on a libtorch 1
  // CPU) <= 0.0009.
  for (const auto& family : kFamilies) {
    const auto golden = zoo(family) / "golden" / "golden.safetensors";
    const at::Tensor expected = golden_tensor(golden, "logits");
    for (const auto& [dtype, bound] : {std::pair<std::string, double>{"bfloat16", 0.04}, {"float16", 0.004}}) {
      INFO(family << " " << dtype);
      auto model = load_model(zoo(family), dtype);
      const at::Tensor logits = model->logits(golden_tensor(golden, "input_ids"));
      REQUIRE(at::isfinite(logits).all().item<bool>());
      CHECK(((logits - expected).abs().mean() / expected.std()).item<double>() <= bound);
    }
  }
}

TEST_CASE("arch-zoo models quantized by the int8 and nf4 plugins keep lm_head, merge in decode and reload",
          "[backend][quant][arch_zoo]") {
  for (const auto& family : kFamilies) {
    for (const std::string quantizer : {"int8", "nf4"}) {
      INFO(family << " " << quantizer);
      auto model = load_model(zoo(family), "float32");
      auto transform = plugin_registry().make_transform(quantizer, {});
      REQUIRE(transform.ok());
      REQUIRE((*transform)->apply(*model, test_context()).ok());
      const auto names = model->linear_names();
      const bool tied = model->config().tie_word_embeddings;
      CHECK(std::count(names.begin(), names.end(), "lm_head") == (tied ? 0 : 1));
      for (const auto& name : names) CHECK(model->linear(name).kind() == (name == "lm_head" ? "dense" : quantizer));
      if (family == "phi3") {
        CHECK(names[0] == "model.layers.0.self_attn.qkv_proj");
        CHECK(names[2] == "model.layers.0.mlp.gate_up_proj");
      }
      // The one-token steps with merged q/k/v and gate/up give the dynamic path's tokens.
      const auto ids = ids_of(golden_tensor(zoo(family) / "golden" / "golden.safetensors", "input_ids"));
      const std::vector<std::vector<std::int64_t>> prompts = {{ids.begin(), ids.begin() + 6}, {ids.begin() + 6, ids.begin() + 15}};
      qrun::GenerationConfig cfg;
      cfg.max_new_tokens = 28;
      cfg.stop_token_ids = {0};
      auto dynamic = model->generate(prompts, cfg);
      auto fixed = dynamic_cast<qrun::hf::HfModel&>(*model).generate_static(prompts, cfg, false);
      REQUIRE(dynamic.ok());
      REQUIRE(fixed.ok());
      for (std::size_t i = 0; i < prompts.size(); ++i) CHECK((*fixed)[i].tokens == (*dynamic)[i].tokens);
      // The layers' stored state and the other tensors, as a checkpoint, load back bit for bit.
      const auto dir = temp_dir("arch_zoo_quantized_" + family + "_" + quantizer);
      for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(zoo(family) / f, dir / f);
      qrun::NamedTensors tensors;
      for (const auto& name : names)
        for (const auto& [suffix, t] : model->linear(name).state()) tensors.emplace_back(name + "." + suffix, t);
      for (const auto& [name, t] : model->other_tensors()) tensors.emplace_back(name, t);
      REQUIRE(qrun::write_safetensors(dir / "model.safetensors", tensors).ok());
      auto loaded = load_model(dir, "float32");
      const at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0);
      CHECK(loaded->logits(input).equal(model->logits(input)));
    }
  }
}

namespace {

// A copy of an arch-zoo folder whose tokenizer knows `token` (id 511, in place of "\u200a", a
// special added token) and whose generation_config.json is replaced by `generation` (none when null).
std::filesystem::path with_turn_token(const std::string& family, const std::string& token, const nlohmann::json& generation) {
  const auto dir = temp_dir("arch_zoo_eos_" + family + (generation.is_null() ? "" : "_gen"));
  for (const char* f : {"config.json", "model.safetensors"}) std::filesystem::copy_file(zoo(family) / f, dir / f);
  const nlohmann::json added = {{"content", token}, {"single_word", false}, {"lstrip", false},
                                {"rstrip", false},  {"normalized", false}, {"special", true}};
  auto tok = read_json(zoo(family) / "tokenizer.json");
  auto& vocab = tok["model"]["vocab"];
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    if (it.value() == 511) {  // "\u200a", in no merge: the vocabulary entry becomes the token
      vocab.erase(it);
      break;
    }
  vocab[token] = 511;
  nlohmann::json entry = added;
  entry["id"] = 511;
  tok["added_tokens"].push_back(entry);
  std::ofstream(dir / "tokenizer.json") << tok.dump();
  auto tok_config = read_json(zoo(family) / "tokenizer_config.json");
  tok_config["added_tokens_decoder"]["511"] = added;
  std::ofstream(dir / "tokenizer_config.json") << tok_config.dump();
  if (!generation.is_null()) std::ofstream(dir / "generation_config.json") << generation.dump();
  return dir;
}

}  // namespace

TEST_CASE("generation stops on generation_config.json's eos ids; Gemma's <end_of_turn> and Llama 3's <|eot_id|> without one",
          "[backend][generate][eos][arch_zoo]") {
  // generation_config.json's list (merged with config.json's eos_token_id 2), as transformers'
  // generate() takes it; its absence: the family's end-of-turn token when the tokenizer has it.
  auto listed = load_model(with_turn_token("llama3", "<|eot_id|>", {{"eos_token_id", {2, 7, 9}}}), "float32");
  CHECK(listed->config().eos_token_ids == std::vector<std::int64_t>{2, 7, 9});
  auto llama = load_model(with_turn_token("llama3", "<|eot_id|>", nullptr), "float32");
  CHECK(llama->config().eos_token_ids == std::vector<std::int64_t>{2, 511});
  auto gemma = load_model(with_turn_token("gemma2", "<end_of_turn>", nullptr), "float32");
  CHECK(gemma->config().eos_token_ids == std::vector<std::int64_t>{2, 511});
  auto gemma3 = load_model(with_turn_token("gemma3", "<end_of_turn>", nullptr), "float32");
  CHECK(gemma3->config().eos_token_ids == std::vector<std::int64_t>{2, 511});
  auto qwen = load_model(with_turn_token("qwen3", "<end_of_turn>", nullptr), "float32");
  CHECK(qwen->config().eos_token_ids == std::vector<std::int64_t>{2});  // not Qwen's token

  // A stop id ends that row's generation, the token included.
  const auto golden = zoo("llama3") / "golden" / "golden.safetensors";
  const auto expected = ids_of(golden_tensor(golden, "greedy_ids"));
  qrun::GenerationConfig cfg;
  cfg.max_new_tokens = 24;
  cfg.stop_token_ids = {expected[3]};
  auto out = listed->generate({ids_of(golden_tensor(golden, "greedy_prompt"))}, cfg);
  REQUIRE(out.ok());
  const auto first = std::find(expected.begin(), expected.end(), expected[3]);
  CHECK(out->front().tokens == std::vector<std::int64_t>(expected.begin(), first + 1));
  CHECK(out->front().stopped_on_eos);
}
