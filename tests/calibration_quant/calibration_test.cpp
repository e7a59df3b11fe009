// Calibration data (qrun/calibration.hpp): CPython's random draw for draw, the four file formats,
// GPTQ's random windows and AWQ's blocks on a known token stream, the provenance record, the
// errors; and the activation observer on stories260K against the layer input computed here.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/calibration.hpp>
#include <qrun/context.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

// Token i of a text is its byte + 3; add_special_tokens puts BOS (1) first.
class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<std::int64_t> encode(std::string_view text, bool special) const override {
    std::vector<std::int64_t> ids;
    if (special) ids.push_back(1);
    for (unsigned char ch : text) ids.push_back(static_cast<std::int64_t>(ch) + 3);
    return ids;
  }
  std::string decode(const std::vector<std::int64_t>&, bool) const override { return {}; }
  std::int64_t vocab_size() const override { return 259; }
  std::optional<std::int64_t> token_to_id(std::string_view) const override { return std::nullopt; }
  std::optional<std::int64_t> bos_id() const override { return 1; }
  std::optional<std::int64_t> eos_id() const override { return 2; }
  bool has_chat_template() const override { return false; }
  Result<std::string> apply_chat_template(const std::vector<ChatMessage>&, bool) const override {
    return Error{"chat", "none", ""};
  }
};

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto dir = test::temp_dir("calibration_" + name);
  const auto p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

const std::vector<std::string> kTexts = {"alpha beta", "gamma", "delta epsilon zeta", "eta"};
const std::string kTextsJson = R"(["alpha beta", "gamma", "delta epsilon zeta", "eta"])";

std::vector<std::int64_t> stream_of(const std::vector<int>& order) {
  ByteTokenizer tok;
  std::vector<std::int64_t> s;
  for (int i : order) {
    auto ids = tok.encode(kTexts[static_cast<std::size_t>(i)], true);
    s.insert(s.end(), ids.begin(), ids.end());
  }
  return s;
}

}  // namespace

TEST_CASE("PyRandom draws what CPython 3.11's random module draws", "[calibration]") {
  // python3 -c 'import random; random.seed(0); print([random.getrandbits(32) for _ in range(3)])' etc.
  calibration::PyRandom a(0);
  CHECK(a.getrandbits(32) == 3626764237u);
  CHECK(a.getrandbits(32) == 1654615998u);
  CHECK(a.getrandbits(32) == 3255389356u);
  calibration::PyRandom b(0);
  const std::vector<std::int64_t> want_b = {864, 394, 776, 911, 430};  // randint(0, 1000) x5
  for (auto w : want_b) CHECK(b.randint(0, 1000) == w);
  calibration::PyRandom c(12345678901ULL);  // a two-word seed
  for (auto w : {78195, 42991, 50304, 46419}) CHECK(c.randint(0, 99999) == w);
  CHECK(c.random() == 0.5386389546518631);
  calibration::PyRandom d(7);
  std::vector<int> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  d.shuffle(x);
  CHECK(x == std::vector<int>{8, 3, 1, 4, 7, 0, 9, 6, 2, 5});
  calibration::PyRandom e(3);
  CHECK(e.getrandbits(40) == 649562111997ULL);
  CHECK(e.getrandbits(64) == 2405875930906139466ULL);
}

TEST_CASE("calibration files: qrun calibration JSON, prompt suite, JSON list, plain text", "[calibration]") {
  auto cal = calibration::read_texts(test::source_dir() / "datasets/calibration.json");
  REQUIRE(cal.ok());
  CHECK(cal->second == "qrun.calibration");
  CHECK(cal->first.size() == 72);  // datasets/README.md
  CHECK(cal->first[0].rfind("The first frost", 0) == 0);
  auto suite = calibration::read_texts(test::source_dir() / "datasets/prompt_suite_96.json");
  REQUIRE(suite.ok());
  CHECK(suite->second == "qrun.prompt_suite");
  CHECK(suite->first.size() == 96);
  auto list = calibration::read_texts(write_file("list.json", kTextsJson));
  REQUIRE(list.ok());
  CHECK(list->second == "json_list");
  CHECK(list->first == kTexts);
  auto text = calibration::read_texts(write_file("plain.txt", "one text\n\nwith lines\n"));
  REQUIRE(text.ok());
  CHECK(text->second == "text");
  CHECK(text->first == std::vector<std::string>{"one text\n\nwith lines\n"});
}

TEST_CASE("calibration file errors name the file and the fix", "[calibration]") {
  ByteTokenizer tok;
  auto missing = calibration::load({"/nonexistent/cal.json", 4, 8, 0, calibration::Sampling::random_windows}, tok);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
  auto bad = calibration::load({write_file("bad.json", "[\"a\", 3]"), 4, 8, 0, calibration::Sampling::random_windows}, tok);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::corrupt_input);
  CHECK(bad.error().thing.find("[1]") != std::string::npos);
  auto broken = calibration::load({write_file("broken.json", "[\"a\""), 4, 8, 0, calibration::Sampling::random_windows}, tok);
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == ErrorCode::corrupt_input);
  auto other = calibration::load({write_file("other.json", "{\"schema\": \"x\"}"), 4, 8, 0, calibration::Sampling::blocks}, tok);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == ErrorCode::corrupt_input);
  // 40 tokens: a random window of 40 needs 41.
  auto short_ = calibration::load({write_file("s.json", kTextsJson), 4, 40, 0, calibration::Sampling::random_windows}, tok);
  REQUIRE_FALSE(short_.ok());
  CHECK(short_.error().fix.find("seq_len") != std::string::npos);
}

TEST_CASE("random windows start where GPTQ's random.randint puts them", "[calibration]") {
  ByteTokenizer tok;
  const auto path = write_file("win.json", kTextsJson);
  auto d = calibration::load({path, 5, 8, 0, calibration::Sampling::random_windows}, tok);
  REQUIRE(d.ok());
  const auto stream = stream_of({0, 1, 2, 3});
  REQUIRE(stream.size() == 40);
  // python3: random.seed(0); [random.randint(0, 40 - 8 - 1) for _ in range(5)]
  const std::vector<std::int64_t> starts = {24, 26, 2, 16, 31};
  REQUIRE(d->windows.sizes() == at::IntArrayRef({5, 8}));
  for (std::size_t w = 0; w < starts.size(); ++w)
    for (std::int64_t t = 0; t < 8; ++t) CHECK(d->windows[w][t].item<std::int64_t>() == stream[starts[w] + t]);
  const auto& r = d->record;
  CHECK(r.sha256 == "66fb4ef1e5b747192a8d83a6b821b38106039e232b08a7d7d5c72ba15cc38219");  // hashlib.sha256 of the file
  CHECK(r.format == "json_list");
  CHECK(r.texts == 4);
  CHECK(r.stream_tokens == 40);
  CHECK(r.windows == 5);
  CHECK(r.tokens == 40);
  const auto j = r.to_json();
  CHECK(j["sampling"] == "random_windows");
  CHECK(j["seed"] == 0);
  CHECK(j["path"] == path.string());
}

TEST_CASE("blocks are AWQ's consecutive blocks of the seeded shuffled texts", "[calibration]") {
  ByteTokenizer tok;
  auto d = calibration::load({write_file("blocks.json", kTextsJson), 3, 8, 4, calibration::Sampling::blocks}, tok);
  REQUIRE(d.ok());
  // python3: random.seed(4); o = list(range(4)); random.shuffle(o) -> [2, 0, 3, 1]
  const auto stream = stream_of({2, 0, 3, 1});
  REQUIRE(d->windows.sizes() == at::IntArrayRef({3, 8}));
  for (std::int64_t w = 0; w < 3; ++w)
    for (std::int64_t t = 0; t < 8; ++t) CHECK(d->windows[w][t].item<std::int64_t>() == stream[w * 8 + t]);
  // 40 tokens hold 5 blocks; asking for 9 gives the 5 there are, and says so.
  auto all = calibration::load({write_file("blocks9.json", kTextsJson), 9, 8, 4, calibration::Sampling::blocks}, tok);
  REQUIRE(all.ok());
  CHECK(all->record.n_samples == 9);
  CHECK(all->record.windows == 5);
}

TEST_CASE("decoder_layer_of reads the block index of a projection name", "[calibration]") {
  CHECK(calibration::decoder_layer_of("model.layers.0.self_attn.q_proj") == 0);
  CHECK(calibration::decoder_layer_of("model.layers.17.mlp.down_proj") == 17);
  CHECK(calibration::decoder_layer_of("lm_head") == -1);
  CHECK(calibration::decoder_layer_of("model.sublayers.3.x") == -1);
}

TEST_CASE("observers see each layer's input on stories260K and the layers come back unchanged", "[calibration][model]") {
  auto b = registry().make_backend("hf", {{"path", test::asset("models/stories260K").string()}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  Model& model = **m;
  c10::InferenceMode guard;
  auto data = calibration::load({test::source_dir() / "datasets/calibration.json", 3, 32, 0,
                                 calibration::Sampling::random_windows}, model.tokenizer());
  REQUIRE(data.ok());
  const at::Tensor before = model.logits(data->windows);
  std::vector<at::Tensor> q_in, down_in;
  const std::string q = "model.layers.0.self_attn.q_proj", down = "model.layers.1.mlp.down_proj";
  for (bool stop : {true, false}) {
    q_in.clear(), down_in.clear();
    REQUIRE(calibration::run(model, data->windows,
                             {{q, [&](const at::Tensor& x, const at::Tensor&) { q_in.push_back(x.clone()); }},
                              {down, [&](const at::Tensor& x, const at::Tensor&) { down_in.push_back(x.clone()); }}},
                             {2, stop}).ok());
    REQUIRE(q_in.size() == 2);  // batches of 2 and 1 windows
    REQUIRE(down_in.size() == 2);
    // LlamaRMSNorm of the embeddings: x * rsqrt(mean(x^2) + 1e-5) * input_layernorm.weight (float32)
    at::Tensor embed, norm;
    for (const auto& [n, t] : model.other_tensors()) {
      if (n == "model.embed_tokens.weight") embed = t;
      if (n == "model.layers.0.input_layernorm.weight") norm = t;
    }
    const at::Tensor e = at::embedding(embed, data->windows);
    const at::Tensor want = e * at::rsqrt(e.square().mean(-1, true) + 1e-5) * norm;
    const at::Tensor got = at::cat(q_in, 0);
    CHECK(got.sizes() == want.sizes());
    CHECK(at::allclose(got, want, 1e-5, 1e-6));
    CHECK(at::cat(down_in, 0).size(-1) == 172);
  }
  CHECK(model.linear(q).kind() == "dense");
  CHECK(at::equal(model.logits(data->windows), before));
  auto twice = calibration::run(model, data->windows, {{q, nullptr}, {q, nullptr}});
  CHECK_FALSE(twice.ok());
  auto unknown = calibration::run(model, data->windows, {{"model.layers.9.mlp.up_proj", nullptr}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::not_found);
}
