// The gguf_file backend on malformed or unsupported files: one Error each (thing naming the file,
// a reason, a fix), never a crash. The reader's own checks (gguf_file_test.cpp) reach the backend
// unchanged; the backend adds its own for what a model needs (architecture, keys, tokenizer,
// tensor names, types it cannot dequantize).
#include "gguf_model_support.hpp"

#include <gguf_file.hpp>

#include <c10/core/InferenceMode.h>

#include <cstring>
#include <fstream>

using namespace qrun;
using qrun::gguf::GgufFile;
using qrun::gguf::KeyValue;
using qrun::gguf::Value;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A small valid file to break: stories260K exported as Q4_K_M (once per test run).
const std::filesystem::path& valid_file() {
  static const std::filesystem::path p = [] {
    c10::InferenceMode guard;
    auto m = test::load_with("hf", test::asset("models/stories260K").string());
    const auto file = test::temp_dir("gguf_backend_valid") / "stories260K.gguf";
    test::quantize_and_export(*m, "Q4_K_M", file);
    return file;
  }();
  return p;
}

std::vector<std::uint8_t> bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path save(const std::vector<std::uint8_t>& b, const std::string& name) {
  const auto p = test::temp_dir("gguf_backend_" + name) / (name + ".gguf");
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return p;
}

// The valid file rewritten with its metadata and tensor list edited by `edit` (through qrun's writer).
std::filesystem::path rewritten(const std::string& name,
                                const std::function<void(std::vector<KeyValue>&, std::vector<gguf::TensorData>&)>& edit) {
  auto f = GgufFile::open(valid_file());
  REQUIRE(f.ok());
  std::vector<KeyValue> kv;
  for (const KeyValue& e : f->metadata())
    if (e.key != "general.alignment") kv.push_back(e);
  std::vector<gguf::TensorData> tensors;
  for (const auto& t : f->tensors()) tensors.push_back({t.name, t.ne, t.type, f->data(t)});
  edit(kv, tensors);
  const auto p = test::temp_dir("gguf_backend_" + name) / (name + ".gguf");
  REQUIRE(gguf::write_gguf(p, kv, tensors).ok());
  return p;
}

Error refused(const std::filesystem::path& p) {
  auto m = test::try_load_gguf(p);
  if (m.ok()) FAIL("a malformed file was loaded: " << p);
  return m.error();
}

// Offset of the first tensor info's fields in the valid file: found by its name's bytes.
std::size_t find_bytes(const std::vector<std::uint8_t>& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  REQUIRE(it != b.end());
  return static_cast<std::size_t>(it - b.begin());
}

}  // namespace

TEST_CASE("the gguf_file backend loads the valid file it is tested against", "[gguf][backend]") {
  c10::InferenceMode guard;
  auto m = test::try_load_gguf(valid_file());
  if (!m) FAIL(m.error().message());
  CHECK((*m)->config().architecture == "LlamaForCausalLM");
  CHECK((*m)->linear("model.layers.0.self_attn.q_proj").kind() == "gguf");
  // a folder holding exactly one .gguf file loads too
  auto folder = test::try_load_gguf(valid_file().parent_path());
  CHECK(folder.ok());
}

TEST_CASE("malformed GGUF files given to the gguf_file backend: one error each", "[gguf][backend][errors]") {
  c10::InferenceMode guard;
  const std::vector<std::uint8_t> good = bytes_of(valid_file());
  // The first tensor info: name "token_embd.weight" (17 bytes) after its u64 length, then n_dims,
  // ne[0..1], type, offset.
  const std::size_t info = find_bytes(good, "token_embd.weight") + 17;
  const std::size_t type_at = info + 4 + 2 * 8, offset_at = type_at + 4;
  struct Case { std::string name; std::vector<std::uint8_t> bytes; std::string thing_has, reason_has; };
  std::vector<Case> cases;
  { auto b = good; std::memcpy(b.data(), "GGML", 4); cases.push_back({"bad_magic", b, ".gguf", "bad magic"}); }
  { auto b = good; b.resize(b.size() - 100); cases.push_back({"truncated_data", b, "tensor '", "truncated"}); }
  { auto b = good; const std::uint64_t n = 1ull << 60; std::memcpy(b.data() + 8, &n, 8); cases.push_back({"absurd_count", b, ".gguf", "absurd count"}); }
  { auto b = good; const std::uint32_t t = 99; std::memcpy(b.data() + type_at, &t, 4); cases.push_back({"unknown_type", b, "token_embd.weight", "unknown ggml type id 99"}); }
  { auto b = good; std::uint64_t o; std::memcpy(&o, b.data() + offset_at, 8); o += 8; std::memcpy(b.data() + offset_at, &o, 8);
    cases.push_back({"misaligned", b, "token_embd.weight", "misaligned"}); }
  { auto b = good;  // the second tensor's offset set to the first's: overlapping data
    const std::size_t second = find_bytes(good, "blk.0.attn_k.weight") + 19 + 4 + 2 * 8 + 4;
    std::uint64_t first_offset;
    std::memcpy(&first_offset, b.data() + offset_at, 8);
    std::memcpy(b.data() + second, &first_offset, 8);
    cases.push_back({"overlapping", b, "tensor '", "overlaps"}); }
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Error e = refused(save(c.bytes, c.name));
    CAPTURE(e.message());
    CHECK(e.code == ErrorCode::corrupt_input);
    CHECK(contains(e.thing, ".gguf"));
    CHECK(contains(e.thing, c.thing_has));
    CHECK(contains(e.reason, c.reason_has));
    CHECK_FALSE(e.fix.empty());
  }
}

TEST_CASE("GGUF files the gguf_file backend cannot run: one error each", "[gguf][backend][errors]") {
  c10::InferenceMode guard;
  auto set_key = [](std::vector<KeyValue>& kv, const std::string& key, Value v) {
    for (auto& e : kv)
      if (e.key == key) { e.value = std::move(v); return; }
    kv.push_back({key, std::move(v)});
  };
  auto drop_key = [](std::vector<KeyValue>& kv, const std::string& key) {
    kv.erase(std::remove_if(kv.begin(), kv.end(), [&](const KeyValue& e) { return e.key == key; }), kv.end());
  };
  struct Case { std::string name; std::filesystem::path file; ErrorCode code; std::string thing_has, reason_has; };
  std::vector<Case> cases;
  cases.push_back({"unknown_arch", rewritten("unknown_arch", [&](auto& kv, auto&) { set_key(kv, "general.architecture", Value::of("mamba")); }),
                   ErrorCode::unsupported, "general.architecture", "'mamba' is not one qrun runs"});
  cases.push_back({"no_arch", rewritten("no_arch", [&](auto& kv, auto&) { drop_key(kv, "general.architecture"); }),
                   ErrorCode::corrupt_input, "general.architecture", "missing"});
  cases.push_back({"no_block_count", rewritten("no_block_count", [&](auto& kv, auto&) { drop_key(kv, "llama.block_count"); }),
                   ErrorCode::corrupt_input, "llama.block_count", "missing"});
  cases.push_back({"block_count_string", rewritten("block_count_string", [&](auto& kv, auto&) { set_key(kv, "llama.block_count", Value::of("5")); }),
                   ErrorCode::corrupt_input, "llama.block_count", "expected an integer"});
  cases.push_back({"no_tokenizer", rewritten("no_tokenizer", [&](auto& kv, auto&) { drop_key(kv, "tokenizer.ggml.model"); }),
                   ErrorCode::corrupt_input, "tokenizer.ggml.model", "missing"});
  cases.push_back({"bert_tokenizer", rewritten("bert_tokenizer", [&](auto& kv, auto&) { set_key(kv, "tokenizer.ggml.model", Value::of("bert")); }),
                   ErrorCode::unsupported, "tokenizer.ggml.model", "'bert'"});
  cases.push_back({"short_token_types", rewritten("short_token_types", [&](auto& kv, auto&) {
                     set_key(kv, "tokenizer.ggml.token_type", Value::array_of(std::vector<std::int32_t>{1, 1}));
                   }), ErrorCode::corrupt_input, "tokenizer.ggml.token_type", "as long as the tokens"});
  cases.push_back({"foreign_tensor", rewritten("foreign_tensor", [&](auto&, auto& t) {
                     for (auto& x : t)
                       if (x.name == "blk.0.ffn_up.weight") x.name = "blk.0.ssm_in.weight";
                   }),
                   ErrorCode::unsupported, "blk.0.ssm_in.weight", "is not part of a llama model"});
  cases.push_back({"missing_tensor", rewritten("missing_tensor", [&](auto&, auto& t) {
                     t.erase(std::remove_if(t.begin(), t.end(), [](const auto& x) { return x.name == "blk.1.ffn_up.weight"; }), t.end());
                   }), ErrorCode::not_found, "model.layers.1.mlp.up_proj", "missing"});
  cases.push_back({"unimplemented_type", rewritten("unimplemented_type", [&](auto&, auto& t) {
                     for (auto& x : t)  // iq2_xxs: 66 bytes per 256 values; the 64-wide rows are not whole blocks, so use the norm
                       if (x.name == "output_norm.weight") x.type = gguf::GgmlType::i8, x.bytes = x.bytes.subspan(0, 64);
                   }), ErrorCode::unsupported, "output_norm.weight", "cannot dequantize"});
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Error e = refused(c.file);
    CAPTURE(e.message());
    CHECK(e.code == c.code);
    CHECK(contains(e.thing + " " + e.reason, c.thing_has));
    CHECK(contains(e.reason, c.reason_has));
    CHECK_FALSE(e.fix.empty());
  }
}
