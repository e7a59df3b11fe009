// GGUF export and read-back (plugins/quantizers/gguf/gguf_export.hpp, plugins/backends/gguf/):
// every family of the hf backend written as an f32 GGUF and loaded by the gguf_file backend gives
// the Hugging Face folder's logits and token ids; Q8_0 / Q4_K_M files hold the in-memory quantized
// model's exact blocks and give its logits and perplexity; the file carries llama.cpp's keys and
// tensor names (checked against convert_hf_to_gguf.py's conventions, written out by hand here).
#include "gguf_model_support.hpp"

#include <gguf_file.hpp>

#include <qrun/tokenizer.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace qrun;
using qrun::gguf::GgufFile;

namespace {

const std::vector<std::string> kTexts = {
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.",
    "The quick brown fox jumps over the lazy dog; 12345 + 678 = 13023!",
    "  Leading spaces,\ttabs and\nnew lines\n\n  ",
    "Unicode: café, naïve, 東京, emoji 🙂 and <|im_start|> markers.",
};

at::Tensor sample_ids(const Model& m) {
  std::vector<std::int64_t> ids;
  for (const auto& t : kTexts) {
    const auto e = m.tokenizer().encode(t, false);
    ids.insert(ids.end(), e.begin(), e.end());
  }
  ids.resize(std::min<std::size_t>(ids.size(), 48));
  for (auto& id : ids) id = std::min<std::int64_t>(id, m.config().vocab_size - 1);
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Family {
  std::string folder;
  std::string arch;
};
const std::vector<Family> kFamilies = {
    {"models/tiny-qwen2", "qwen2"},        {"models/stories260K", "llama"},   {"models/arch-zoo/llama3", "llama"},
    {"models/arch-zoo/mistral", "llama"},  {"models/arch-zoo/qwen3", "qwen3"}, {"models/arch-zoo/qwen2_yarn", "qwen2"},
    {"models/arch-zoo/gemma2", "gemma2"},  {"models/arch-zoo/gemma3", "gemma3"}, {"models/arch-zoo/phi3", "phi3"},
};

}  // namespace

TEST_CASE("every family exported as an f32 GGUF reads back with the HF folder's logits and token ids",
          "[gguf][export][model]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("gguf_export_f32");
  for (const Family& fam : kFamilies) {
    CAPTURE(fam.folder);
    const std::string path = test::asset(fam.folder).string();
    auto hf = test::load_with("hf", path);
    auto exported = test::load_with("hf", path);
    const auto file = dir / (std::filesystem::path(fam.folder).filename().string() + ".gguf");
    test::quantize_and_export(*exported, "f32", file);
    auto back = test::try_load_gguf(file);
    if (!back) FAIL(back.error().message());
    Model& g = **back;
    CHECK(g.config().architecture == hf->config().architecture);
    CHECK(g.config().num_hidden_layers == hf->config().num_hidden_layers);
    CHECK(g.config().tie_word_embeddings == hf->config().tie_word_embeddings);
    for (const auto& t : kTexts) {
      CAPTURE(t);
      CHECK(g.tokenizer().encode(t, true) == hf->tokenizer().encode(t, true));
      CHECK(g.tokenizer().encode(t, false) == hf->tokenizer().encode(t, false));
      const auto ids = hf->tokenizer().encode(t, false);
      CHECK(g.tokenizer().decode(ids, true) == hf->tokenizer().decode(ids, true));
    }
    const at::Tensor ids = sample_ids(*hf);
    const at::Tensor want = hf->logits(ids), got = g.logits(ids);
    const double diff = max_abs_diff(want, got);
    CAPTURE(diff);
    // Exact except Llama 3 RoPE, read back from rope_freqs.weight as longrope factors (the same
    // inverse frequencies up to float32 rounding).
    if (fam.folder == "models/arch-zoo/llama3") CHECK(diff <= 1e-5);
    else CHECK(diff == 0.0);
    // The file's architecture and tensor names are llama.cpp's.
    auto f = GgufFile::open(file);
    REQUIRE(f.ok());
    CHECK(f->find("general.architecture")->as<std::string>() == fam.arch);
    CHECK(f->find("general.alignment")->as<std::uint32_t>() == 32u);
    CHECK(f->find_tensor("token_embd.weight") != nullptr);
    CHECK(f->find_tensor("output_norm.weight") != nullptr);
    CHECK(f->find_tensor("blk.0.attn_norm.weight") != nullptr);
    CHECK((f->find_tensor("output.weight") != nullptr) == !hf->config().tie_word_embeddings);
  }
}

TEST_CASE("llama.cpp's keys, tensor layout and tokenizer metadata in an exported file", "[gguf][export][model]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("gguf_export_keys");
  SECTION("tiny-qwen2: qwen2 keys, gpt2 tokenizer with the qwen2 pre-tokenizer, padded vocabulary") {
    auto m = test::load_with("hf", test::asset("models/tiny-qwen2").string());
    test::quantize_and_export(*m, "f16", dir / "q.gguf");
    auto f = GgufFile::open(dir / "q.gguf");
    REQUIRE(f.ok());
    CHECK(f->find("qwen2.block_count")->as<std::uint32_t>() == 2u);
    CHECK(f->find("qwen2.embedding_length")->as<std::uint32_t>() == 64u);
    CHECK(f->find("qwen2.feed_forward_length")->as<std::uint32_t>() == 176u);
    CHECK(f->find("qwen2.attention.head_count_kv")->as<std::uint32_t>() == 2u);
    CHECK(f->find("qwen2.rope.freq_base")->as<float>() == 1e6f);
    CHECK(f->find("qwen2.attention.layer_norm_rms_epsilon")->as<float>() == 1e-6f);
    CHECK(f->find("general.file_type")->as<std::uint32_t>() == 1u);  // LLAMA_FTYPE_MOSTLY_F16
    CHECK(f->find("tokenizer.ggml.model")->as<std::string>() == "gpt2");
    CHECK(f->find("tokenizer.ggml.pre")->as<std::string>() == "qwen2");
    const auto tokens = f->find("tokenizer.ggml.tokens")->as_array<std::string>();
    REQUIRE(tokens);
    CHECK(tokens->size() == 151936u);            // embedding rows: the converter pads with [PAD<id>]
    CHECK((*tokens)[151935] == "[PAD151935]");
    CHECK((*tokens)[151645] == "<|im_end|>");
    const auto types = f->find("tokenizer.ggml.token_type")->as_array<std::int32_t>();
    CHECK((*types)[0] == 1);          // NORMAL
    CHECK((*types)[151645] == 3);     // CONTROL
    CHECK((*types)[151935] == 5);     // UNUSED
    CHECK(f->find("tokenizer.ggml.eos_token_id")->as<std::uint32_t>() == 151645u);
    CHECK(f->find("tokenizer.ggml.add_bos_token")->as<bool>() == false);
    CHECK(f->find("tokenizer.ggml.merges")->size() > 100000u);
    CHECK(f->find("tokenizer.chat_template") != nullptr);
    // f16: 2-D weights f16, norms and biases f32 (as the converter's --outtype f16)
    CHECK(f->find_tensor("blk.0.attn_q.weight")->type == gguf::GgmlType::f16);
    CHECK(f->find_tensor("blk.0.attn_q.bias")->type == gguf::GgmlType::f32);
    CHECK(f->find_tensor("blk.1.ffn_norm.weight")->type == gguf::GgmlType::f32);
    CHECK(f->find_tensor("token_embd.weight")->ne == std::vector<std::int64_t>{64, 151936});
  }
  SECTION("stories260K: Llama's q/k rows interleaved per rotary pair, llama tokenizer with byte tokens") {
    auto m = test::load_with("hf", test::asset("models/stories260K").string());
    at::Tensor wq = m->linear("model.layers.0.self_attn.q_proj").weight(at::kFloat).clone();
    at::Tensor wk = m->linear("model.layers.0.self_attn.k_proj").weight(at::kFloat).clone();
    test::quantize_and_export(*m, "f32", dir / "s.gguf");
    auto f = GgufFile::open(dir / "s.gguf");
    REQUIRE(f.ok());
    auto rows = [&](const char* name, std::int64_t n) {
      const auto* t = f->find_tensor(name);
      const auto d = f->data(*t);
      return at::from_blob(const_cast<std::uint8_t*>(d.data()), {n, 64}, at::kFloat).clone();
    };
    // convert_hf_to_gguf.py LlamaModel.permute: reshape(heads, 2, d/2, in).swapaxes(1, 2)
    auto permute = [](const at::Tensor& w, std::int64_t heads) {
      return w.reshape({heads, 2, w.size(0) / heads / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes());
    };
    CHECK(at::equal(rows("blk.0.attn_q.weight", 64), permute(wq, 8)));
    CHECK(at::equal(rows("blk.0.attn_k.weight", 32), permute(wk, 4)));
    CHECK(f->find("llama.rope.dimension_count")->as<std::uint32_t>() == 8u);
    CHECK(f->find("llama.attention.head_count_kv")->as<std::uint32_t>() == 4u);
    CHECK(f->find("tokenizer.ggml.model")->as<std::string>() == "llama");
    const auto types = f->find("tokenizer.ggml.token_type")->as_array<std::int32_t>();
    CHECK((*types)[1] == 3);  // <s>: CONTROL
    CHECK((*types)[3] == 6);  // <0x00>: BYTE
    CHECK(f->find("tokenizer.ggml.scores")->size() == 512u);
    CHECK(f->find("tokenizer.ggml.bos_token_id")->as<std::uint32_t>() == 1u);
    CHECK(f->find("tokenizer.ggml.add_bos_token")->as<bool>() == true);
  }
  SECTION("gemma2: norms stored as 1 + w, soft-capping and sliding-window keys") {
    auto m = test::load_with("hf", test::asset("models/arch-zoo/gemma2").string());
    at::Tensor norm;
    for (auto& [n, t] : m->other_tensors())
      if (n == "model.layers.0.input_layernorm.weight") norm = t.clone();
    REQUIRE(norm.defined());
    test::quantize_and_export(*m, "f32", dir / "g.gguf");
    auto f = GgufFile::open(dir / "g.gguf");
    REQUIRE(f.ok());
    const auto d = f->data(*f->find_tensor("blk.0.attn_norm.weight"));
    CHECK(at::equal(at::from_blob(const_cast<std::uint8_t*>(d.data()), {64}, at::kFloat), norm + 1.0));
    CHECK(f->find("gemma2.attn_logit_softcapping")->as<float>() == 50.0f);
    CHECK(f->find("gemma2.final_logit_softcapping")->as<float>() == 30.0f);
    CHECK(f->find("gemma2.attention.sliding_window")->as<std::uint32_t>() == 24u);
    CHECK(f->find_tensor("blk.0.post_attention_norm.weight") != nullptr);
    CHECK(f->find_tensor("blk.0.post_ffw_norm.weight") != nullptr);
  }
  SECTION("phi3: fused qkv and gate_up tensors; llama3: rope_freqs") {
    auto p = test::load_with("hf", test::asset("models/arch-zoo/phi3").string());
    test::quantize_and_export(*p, "f32", dir / "p.gguf");
    auto f = GgufFile::open(dir / "p.gguf");
    REQUIRE(f.ok());
    CHECK(f->find_tensor("blk.0.attn_qkv.weight")->ne == std::vector<std::int64_t>{64, 64 + 2 * 2 * 16});  // q + k + v rows
    CHECK(f->find_tensor("blk.0.ffn_up.weight")->ne == std::vector<std::int64_t>{64, 2 * 128});
    CHECK(f->find_tensor("blk.0.ffn_gate.weight") == nullptr);
    auto l = test::load_with("hf", test::asset("models/arch-zoo/llama3").string());
    test::quantize_and_export(*l, "f32", dir / "l.gguf");
    auto g = GgufFile::open(dir / "l.gguf");
    REQUIRE(g.ok());
    REQUIRE(g->find_tensor("rope_freqs.weight") != nullptr);
    CHECK(g->find_tensor("rope_freqs.weight")->ne == std::vector<std::int64_t>{8});
  }
}

TEST_CASE("Q8_0 and Q4_K_M files hold the in-memory quantized model's blocks and give its logits",
          "[gguf][export][model]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("gguf_export_quant");
  // Rows of 172 / 176 values (stories260K, tiny-qwen2) are not whole q8_0 blocks and llama.cpp has
  // no fallback for them: q8_0 on the arch-zoo models (rows of 64 and 128), Q4_K_M on all.
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"models/tiny-qwen2", "Q4_K_M"}, {"models/stories260K", "Q4_K_M"}, {"models/arch-zoo/gemma3", "Q4_K_M"},
      {"models/arch-zoo/gemma3", "q8_0"}, {"models/arch-zoo/llama3", "q8_0"}, {"models/arch-zoo/phi3", "q8_0"},
      {"models/arch-zoo/qwen3", "q4_K"}};
  for (const auto& [folder, type] : runs) {
    {
      CAPTURE(folder, type);
      auto m = test::load_with("hf", test::asset(folder).string());
      const auto file = dir / (std::filesystem::path(folder).filename().string() + "-" + type + ".gguf");
      test::quantize_and_export(*m, type, file);
      auto back = test::try_load_gguf(file);
      if (!back) FAIL(back.error().message());
      Model& g = **back;
      REQUIRE(g.linear_names() == m->linear_names());
      for (const auto& name : m->linear_names()) {
        CAPTURE(name);
        const LinearImpl& a = m->linear(name);
        const LinearImpl& b = g.linear(name);
        CHECK(b.kind() == "gguf");
        CHECK(a.metadata()["type"] == b.metadata()["type"]);
        CHECK(at::equal(a.state().front().second, b.state().front().second));  // the ggml blocks
        CHECK(at::equal(a.weight(at::kFloat), b.weight(at::kFloat)));
      }
      auto others = g.other_tensors();
      for (auto& [name, t] : m->other_tensors()) {
        CAPTURE(name);
        auto it = std::find_if(others.begin(), others.end(), [&](const auto& o) { return o.first == name; });
        REQUIRE(it != others.end());
        // Gemma's norms travel as 1 + w (the converter's +1): what the model computes with is 1 + w,
        // which is exact for |w| < 1 (Sterbenz), while w itself may differ in its last bits.
        if (folder.find("gemma") != std::string::npos && name.ends_with("norm.weight"))
          CHECK(at::equal(it->second.to(at::kFloat) + 1.0, t.to(at::kFloat) + 1.0));
        else
          CHECK(at::equal(it->second.to(at::kFloat), t.to(at::kFloat)));
      }
      const at::Tensor ids = sample_ids(*m);
      const double diff = max_abs_diff(m->logits(ids), g.logits(ids));
      CAPTURE(diff);
      if (folder == "models/arch-zoo/llama3") CHECK(diff <= 1e-5);  // RoPE from rope_freqs.weight, as above
      else CHECK(diff == 0.0);
      CHECK(model_storage(g).quantized_linear_bytes == model_storage(*m).quantized_linear_bytes);
    }
  }
}

TEST_CASE("qrun eval on the exported Q4_K_M file gives the in-memory model's perplexity",
          "[gguf][export][model][slow]") {
  const auto dir = test::temp_dir("gguf_export_ppl");
  const std::string model = test::asset("models/tiny-qwen2").string();
  const std::string data = test::asset("datasets/wikitext-2-raw/wiki.test.raw").string();
  const auto file = dir / "tiny-q4km.gguf";
  const auto q = test::run_command(test::qrun_exe().string() + " --log-level warn quantize --model " + model +
                                   " --dtype float32 --quantizer gguf --param type=Q4_K_M --out " + file.string());
  INFO(q.output);
  REQUIRE(q.exit_code == 0);
  REQUIRE(std::filesystem::exists(file));
  auto eval_ppl = [&](const std::string& args) {
    const std::string cmd = test::qrun_exe().string() + " --log-level warn eval " + args +
                            " --dtype float32 --metric perplexity --data " + data +
                            " --param protocol=chunks --param n_ctx=128 --param max_windows=8 --json";
    auto r = test::run_command(cmd);
    INFO(cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    for (const auto& v : j["result"]["values"])
      if (v["name"] == "ppl") return v["value"].get<double>();
    FAIL("no ppl value");
    return 0.0;
  };
  const double in_memory = eval_ppl("--model " + model + " --transform gguf:type=Q4_K_M");
  const double from_file = eval_ppl("--backend gguf_file --model " + file.string());
  CAPTURE(in_memory, from_file);
  WARN("tiny-qwen2 Q4_K_M perplexity (chunks, n_ctx 128, 8 windows): in memory " << in_memory << ", GGUF file " << from_file);
  CHECK(from_file == in_memory);
}
