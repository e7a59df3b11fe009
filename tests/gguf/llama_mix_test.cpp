// llama.cpp's per-tensor type choice (llama_types.hpp) against worked examples derived by hand from
// the rules of llama_tensor_get_type_impl (llama.cpp src/llama-quant.cpp): which tensors get more
// bits, in llama-quantize's visiting order (tensor names sorted as strings), and the fallbacks.
#include <llama_types.hpp>

#include <catch2/catch.hpp>

#include <set>

using namespace qrun::gguf;

namespace {

// Every projection of an n-layer dense model by llama.cpp name, plus output / token_embd.
std::vector<MixTensor> dense_model(int n_layer, std::int64_t hidden, std::int64_t ffn, bool tied) {
  std::vector<MixTensor> t;
  for (int i = 0; i < n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    for (const char* p : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"}) t.push_back({b + p + ".weight", hidden});
    t.push_back({b + "ffn_down.weight", ffn});
  }
  t.push_back({"token_embd.weight", hidden});
  if (!tied) t.push_back({"output.weight", hidden});
  return t;
}

GgmlType at(const std::map<std::string, std::optional<GgmlType>>& m, const std::string& name) {
  auto it = m.find(name);
  REQUIRE(it != m.end());
  REQUIRE(it->second.has_value());
  return *it->second;
}

std::string blk(int i, const char* what) { return "blk." + std::to_string(i) + "." + what + ".weight"; }

}  // namespace

TEST_CASE("Q4_K_M on a Qwen2.5-0.5B-shaped model: more bits by visiting order, q5_0/q8_0 fallbacks for 896-wide rows",
          "[gguf][mix]") {
  // 24 layers, 14 heads / 2 KV heads, hidden 896 (not a multiple of 256), ffn 4864 = 19 x 256, tied.
  const auto types = mix_types(Mix::Q4_K_M, MixModel{24, 14, 2, false, false}, dense_model(24, 896, 4864, true));
  // Names sorted: blk.0, blk.1, blk.10 ... blk.19, blk.2, blk.20 ... blk.23, blk.3 ... blk.9; use_more_bits
  // (i < 3, i >= 21, (i - 3) % 3 == 2) picks visits 0 1 2 5 8 11 14 17 20 21 22 23, i.e. these layers:
  const std::set<int> more = {0, 1, 10, 13, 16, 19, 21, 3, 6, 7, 8, 9};
  for (int i = 0; i < 24; ++i) {
    CAPTURE(i);
    const bool m = more.count(i) > 0;
    CHECK(at(types, blk(i, "ffn_down")) == (m ? GgmlType::q6_K : GgmlType::q4_K));
    CHECK(at(types, blk(i, "attn_v")) == (m ? GgmlType::q8_0 : GgmlType::q5_0));  // q6_K -> q8_0, q4_K -> q5_0
    for (const char* p : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"}) CHECK(at(types, blk(i, p)) == GgmlType::q5_0);
  }
  CHECK(at(types, "token_embd.weight") == GgmlType::q8_0);  // tied: the output rule, 896 % 256 != 0
}

TEST_CASE("Q3_K_M, Q2_K and Q4_K_S on a Llama-shaped model", "[gguf][mix]") {
  const auto llama = dense_model(32, 4096, 11008, false);
  const MixModel gqa4{32, 32, 8, false, false}, mha{32, 32, 32, false, false};
  {
    const auto t = mix_types(Mix::Q3_K_M, gqa4, llama);
    CHECK(at(t, blk(0, "attn_v")) == GgmlType::q5_K);  // the first two visits: blk.0, blk.1
    CHECK(at(t, blk(1, "attn_v")) == GgmlType::q5_K);
    CHECK(at(t, blk(10, "attn_v")) == GgmlType::q4_K);
    CHECK(at(t, blk(2, "attn_v")) == GgmlType::q4_K);
    CHECK(at(t, blk(1, "ffn_down")) == GgmlType::q5_K);  // visits < 32 / 16
    CHECK(at(t, blk(10, "ffn_down")) == GgmlType::q4_K);
    CHECK(at(t, blk(5, "attn_output")) == GgmlType::q4_K);
    CHECK(at(t, blk(5, "attn_q")) == GgmlType::q3_K);
    CHECK(at(t, "output.weight") == GgmlType::q6_K);
    CHECK(at(t, "token_embd.weight") == GgmlType::q3_K);  // untied: the mix's type
  }
  {
    CHECK(at(mix_types(Mix::Q2_K, gqa4, llama), blk(7, "attn_v")) == GgmlType::q4_K);  // n_gqa >= 4
    const auto t = mix_types(Mix::Q2_K, mha, llama);
    CHECK(at(t, blk(7, "attn_v")) == GgmlType::q3_K);
    CHECK(at(t, blk(7, "ffn_down")) == GgmlType::q3_K);
    CHECK(at(t, blk(7, "attn_output")) == GgmlType::q3_K);
    CHECK(at(t, blk(7, "ffn_up")) == GgmlType::q2_K);
  }
  {
    const auto t = mix_types(Mix::Q4_K_S, gqa4, llama);
    // attn_v visits 0..3 are blk.0, blk.1, blk.10, blk.11; ffn_down visits < 4 likewise
    for (int i : {0, 1, 10, 11}) CHECK(at(t, blk(i, "attn_v")) == GgmlType::q5_K);
    for (int i : {2, 3, 12}) CHECK(at(t, blk(i, "attn_v")) == GgmlType::q4_K);
    for (int i : {0, 1, 10, 11}) CHECK(at(t, blk(i, "ffn_down")) == GgmlType::q5_K);
    CHECK(at(t, blk(2, "ffn_down")) == GgmlType::q4_K);
  }
  {
    const MixModel l70{80, 64, 8, true, false};
    CHECK(at(mix_types(Mix::Q4_K_S, l70, dense_model(80, 8192, 28672, false)), blk(40, "attn_v")) == GgmlType::q5_K);
  }
}

TEST_CASE("Q4_0 bumps the first ffn_down layers with an imatrix; Q8_0 keeps its output", "[gguf][mix]") {
  const auto model = dense_model(16, 4096, 11008, false);
  const auto with = mix_types(Mix::Q4_0, MixModel{16, 32, 8, false, true}, model);
  const auto without = mix_types(Mix::Q4_0, MixModel{16, 32, 8, false, false}, model);
  CHECK(at(with, blk(0, "ffn_down")) == GgmlType::q4_1);  // visits < 16 / 8: blk.0, blk.1
  CHECK(at(with, blk(1, "ffn_down")) == GgmlType::q4_1);
  CHECK(at(with, blk(10, "ffn_down")) == GgmlType::q4_0);
  CHECK(at(without, blk(0, "ffn_down")) == GgmlType::q4_0);
  CHECK(at(with, "output.weight") == GgmlType::q6_K);
  const auto q8 = mix_types(Mix::Q8_0, MixModel{16, 32, 8, false, false}, model);
  CHECK(at(q8, "output.weight") == GgmlType::q8_0);
  CHECK(at(q8, blk(3, "attn_v")) == GgmlType::q8_0);
}

TEST_CASE("mix names parse case-insensitively and Hugging Face names map to llama.cpp's", "[gguf][mix]") {
  CHECK(parse_mix("q4_k_m") == Mix::Q4_K_M);
  CHECK(parse_mix("Q2_K_S") == Mix::Q2_K_S);
  CHECK_FALSE(parse_mix("Q4_K").has_value());  // a ggml type, not a file type qrun names
  CHECK(mix_default_type(Mix::Q3_K_L) == GgmlType::q3_K);
  CHECK(std::string(mix_name(Mix::Q5_K_M)) == "Q5_K_M");
  CHECK(llama_tensor_name("model.layers.3.self_attn.v_proj") == "blk.3.attn_v.weight");
  CHECK(llama_tensor_name("model.layers.12.mlp.down_proj.weight") == "blk.12.ffn_down.weight");
  CHECK(llama_tensor_name("model.layers.0.self_attn.o_proj") == "blk.0.attn_output.weight");
  CHECK(llama_tensor_name("model.layers.0.self_attn.qkv_proj") == "blk.0.attn_qkv.weight");
  CHECK(llama_tensor_name("model.layers.0.mlp.gate_up_proj") == "blk.0.ffn_up.weight");
  CHECK(llama_tensor_name("lm_head") == "output.weight");
  CHECK(llama_tensor_name("model.embed_tokens") == "token_embd.weight");
  CHECK(llama_tensor_name("blk.0.attn_v.weight") == "blk.0.attn_v.weight");
  CHECK(llama_tensor_name("A") == "A");
}
