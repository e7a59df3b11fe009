// The gguf plugin (plugins/quantizers/gguf/gguf.cpp): its layers hold ggml's exact bytes (the
// reference file of ggml d99724f2) and compute with ggml's dequantization; `qrun quantize --tensors`
// writes those bytes; llama.cpp's fallbacks for rows that are not whole blocks; checkpoints load
// back bit-identically; perplexity on stories260K orders the types as their bits do.
#include "model/tensor_model.hpp"
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <ggml_types.hpp>
#include <llama_types.hpp>
#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

using namespace qrun;
using qrun::gguf::GgmlType;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

const SafetensorsFile& refs() {
  static SafetensorsFile f = [] {
    auto r = SafetensorsFile::open(test::asset("quant-refs/ggml_d99724f2.safetensors"));
    if (!r.ok()) FAIL(r.error().message());
    return std::move(r).value();
  }();
  return f;
}

at::Tensor reference(const std::string& name) {
  auto t = refs().load(name);
  if (!t.ok()) FAIL("reference tensor " << name << ": " << t.error().message());
  return *t;
}

// Applies the gguf transform to one-layer-per-tensor models; returns the error or the report.
Result<TransformReport> run_gguf(Model& model, const ParamMap& params) {
  auto t = registry().make_transform("gguf", params);
  if (!t) return t.error();
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  return (*t)->apply(model, *ctx);
}

// The imatrix file: one float32 [cols] tensor per matrix; "A" under "A.weight" (both names are
// looked up), "Z" left out (that layer is then quantized without an imatrix, as llama-quantize does).
std::filesystem::path write_imatrix(const std::filesystem::path& dir) {
  const auto p = dir / "imatrix.safetensors";
  REQUIRE(write_safetensors(p, {{"A.weight", reference("imatrix.A")}, {"D", reference("imatrix.D")}, {"E", reference("imatrix.E")}}).ok());
  return p;
}

const std::vector<std::string> kMatrices = {"A", "D", "E", "Z"};

}  // namespace

TEST_CASE("gguf layers hold ggml's bytes for every type, with and without an imatrix", "[gguf][plugin]") {
  c10::InferenceMode guard;
  const auto im = write_imatrix(test::temp_dir("gguf_plugin_layers"));
  for (GgmlType t : gguf::quantized_types()) {
    for (bool with_imatrix : {false, true}) {
      const std::string type = gguf::type_name(t);
      CAPTURE(type, with_imatrix);
      std::vector<std::pair<std::string, at::Tensor>> weights;
      for (const auto& m : kMatrices) weights.emplace_back(m, reference("input." + m));
      auto model = make_tensor_model(weights, "refs");
      ParamMap p{{"type", type}, {"exclude", std::vector<std::string>{}}};
      if (with_imatrix) p["imatrix"] = im.string();
      auto r = run_gguf(*model, p);
      if (!r) FAIL(r.error().message());
      if (with_imatrix) CHECK(r->details["imatrix_missing"] == nlohmann::json::array({"Z"}));
      for (const auto& m : kMatrices) {
        CAPTURE(m);
        const LinearImpl& layer = model->linear(m);
        REQUIRE(layer.kind() == "gguf");
        const auto state = layer.state();
        REQUIRE(state.at(0).first == "weight");
        const at::Tensor& blocks = state[0].second;
        CHECK(blocks.scalar_type() == at::kByte);
        const bool uses_imatrix = with_imatrix && m != "Z";
        CHECK(at::equal(blocks, reference(type + "." + m + (uses_imatrix ? ".im" : "") + ".q")));
        CHECK(layer.storage().bytes == blocks.numel());
        CHECK(layer.storage().format == type);
        CHECK(layer.metadata()["type"] == type);
      }
      // Matrix E: the layer computes with ggml's to_float values.
      const std::string deq = type + ".E" + (with_imatrix ? ".im" : "") + ".deq";
      CHECK(at::equal(model->linear("E").weight(at::kFloat), reference(deq)));
    }
  }
}

TEST_CASE("qrun quantize --tensors writes each tensor's ggml blocks as U8 under its own name", "[gguf][plugin][cli][slow]") {
  const auto dir = test::temp_dir("gguf_cli_tensors");
  NamedTensors in;
  for (const auto& m : kMatrices) in.emplace_back(m, reference("input." + m));
  in.emplace_back("norm", at::ones({256}));  // not a matrix: copied as it is
  REQUIRE(write_safetensors(dir / "in.safetensors", in).ok());
  const auto im = write_imatrix(dir);
  struct Run { std::string type_arg, type; bool imatrix; };
  for (const Run& run : {Run{"q4_K", "q4_K", false}, Run{"Q2_K", "q2_K", true}, Run{"IQ4_NL", "iq4_nl", true},
                         Run{"mxfp4", "mxfp4", false}}) {
    CAPTURE(run.type_arg, run.imatrix);
    const auto out = dir / ("out_" + run.type + (run.imatrix ? "_im" : "") + ".safetensors");
    const std::string cmd = test::qrun_exe().string() + " --log-level warn quantize --tensors " + (dir / "in.safetensors").string() +
                            " --quantizer gguf --param type=" + run.type_arg +
                            (run.imatrix ? " --param imatrix=" + im.string() : std::string()) + " --out " + out.string();
    auto r = test::run_command(cmd);
    INFO(cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    auto f = SafetensorsFile::open(out);
    REQUIRE(f.ok());
    for (const auto& m : kMatrices) {
      CAPTURE(m);
      const TensorEntry* e = f->find(m);
      REQUIRE(e != nullptr);
      CHECK(e->dtype == "U8");
      const bool uses_imatrix = run.imatrix && m != "Z";
      CHECK(at::equal(*f->load(m), reference(run.type + "." + m + (uses_imatrix ? ".im" : "") + ".q")));
      const auto meta = f->metadata().find(linear_metadata_key(m));
      REQUIRE(meta != f->metadata().end());
      auto parsed = parse_linear_metadata(m, meta->second);
      REQUIRE(parsed.ok());
      CHECK(parsed->first == "gguf");
      CHECK(parsed->second["type"] == run.type);
    }
    CHECK(at::equal(*f->load("norm"), at::ones({256})));
  }
}

TEST_CASE("rows that are not whole blocks fall back as llama-quantize does", "[gguf][plugin]") {
  c10::InferenceMode guard;
  // tensor_type_fallback (llama.cpp src/llama-quant.cpp)
  CHECK(gguf::fallback_type(GgmlType::q4_K, 512) == GgmlType::q4_K);
  CHECK(gguf::fallback_type(GgmlType::q2_K, 64) == GgmlType::q4_0);
  CHECK(gguf::fallback_type(GgmlType::q3_K, 96) == GgmlType::q4_0);
  CHECK(gguf::fallback_type(GgmlType::q4_K, 64) == GgmlType::q5_0);
  CHECK(gguf::fallback_type(GgmlType::q5_K, 64) == GgmlType::q5_1);
  CHECK(gguf::fallback_type(GgmlType::q6_K, 64) == GgmlType::q8_0);
  CHECK(gguf::fallback_type(GgmlType::iq4_xs, 64) == GgmlType::iq4_nl);
  CHECK(gguf::fallback_type(GgmlType::q4_K, 172) == GgmlType::f16);  // not even 32-value blocks
  CHECK_FALSE(gguf::fallback_type(GgmlType::q4_0, 172).has_value());  // llama.cpp stops

  at::manual_seed(3);
  const at::Tensor w64 = at::randn({8, 64}) * 0.1, w172 = at::randn({8, 172}) * 0.1;
  auto model = make_tensor_model({{"gate", w64}, {"down", w172}}, "fixture");
  auto r = run_gguf(*model, {{"type", std::string("q4_K")}, {"exclude", std::vector<std::string>{}}});
  if (!r) FAIL(r.error().message());
  CHECK(r->details["fallbacks"] == nlohmann::json{{"down", "f16"}, {"gate", "q5_0"}});
  CHECK(model->linear("gate").metadata()["type"] == "q5_0");
  CHECK(model->linear("down").metadata()["type"] == "f16");
  // f16 storage: the weight rounded to half precision.
  CHECK(at::equal(model->linear("down").weight(at::kFloat), w172.to(at::kHalf).to(at::kFloat)));
  std::vector<std::uint8_t> q5(gguf::row_size(GgmlType::q5_0, 64) * 8);
  (void)gguf::quantize_rows(GgmlType::q5_0, w64.contiguous().data_ptr<float>(), q5.data(), 8, 64, nullptr);
  const at::Tensor blocks = model->linear("gate").state()[0].second;
  CHECK(std::memcmp(blocks.data_ptr<std::uint8_t>(), q5.data(), q5.size()) == 0);

  auto m2 = make_tensor_model({{"down", w172}}, "fixture");
  auto e = run_gguf(*m2, {{"type", std::string("q4_0")}, {"exclude", std::vector<std::string>{}}});
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing.find("down") != std::string::npos);
  CHECK_FALSE(e.error().fix.empty());
}

TEST_CASE("gguf refuses unknown types and imatrix files that do not fit", "[gguf][plugin][errors]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("gguf_plugin_errors");
  auto fresh = [] { return make_tensor_model({{"A", at::randn({4, 256})}}, "fixture"); };
  const std::vector<std::string> none;
  {
    auto m = fresh();
    auto r = run_gguf(*m, {{"type", std::string("q4_K_X")}, {"exclude", none}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().thing == "gguf.type");
    CHECK(r.error().fix.find("q4_K") != std::string::npos);
  }
  {
    auto m = fresh();  // a type ggml knows but qrun does not quantize to
    auto r = run_gguf(*m, {{"type", std::string("iq2_xxs")}, {"exclude", none}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().thing == "gguf.type");
  }
  {
    REQUIRE(write_safetensors(dir / "short.safetensors", {{"A", at::ones({128})}}).ok());
    auto m = fresh();
    auto r = run_gguf(*m, {{"type", std::string("q4_K")}, {"imatrix", (dir / "short.safetensors").string()}, {"exclude", none}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().thing.find("short.safetensors") != std::string::npos);
  }
  {
    REQUIRE(write_safetensors(dir / "other.safetensors", {{"B", at::ones({256})}}).ok());
    auto m = fresh();
    auto r = run_gguf(*m, {{"type", std::string("q4_K")}, {"imatrix", (dir / "other.safetensors").string()}, {"exclude", none}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().thing.find("imatrix") != std::string::npos);
  }
  {
    auto m = fresh();
    auto r = run_gguf(*m, {{"type", std::string("q4_K")}, {"imatrix", (dir / "missing.safetensors").string()}, {"exclude", none}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::not_found);
  }
}

TEST_CASE("gguf checkpoints of stories260K load back bit-identically", "[gguf][plugin][model]") {
  const auto dir = test::temp_dir("gguf_ckpt");
  const std::string model = test::asset("models/stories260K").string();
  auto r = test::run_command(test::qrun_exe().string() + " --log-level warn quantize --model " + model +
                             " --quantizer gguf --param type=q4_K --out " + (dir / "q").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto load = [&](const std::string& path) {
    auto b = registry().make_backend("hf", {{"path", path}});
    REQUIRE(b.ok());
    auto ctx = make_default_context(0, c10::Device(c10::kCPU));
    auto m = (*b)->load(*ctx);
    if (!m) FAIL(m.error().message());
    return std::move(*m);
  };
  auto loaded = load((dir / "q").string());
  auto fresh = load(model);
  auto t = registry().make_transform("gguf", {{"type", std::string("q4_K")}});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  REQUIRE(loaded->linear_names() == fresh->linear_names());
  int quantized = 0;
  for (const auto& name : fresh->linear_names()) {
    CAPTURE(name);
    REQUIRE(loaded->linear(name).kind() == fresh->linear(name).kind());
    if (fresh->linear(name).kind() != "gguf") continue;
    ++quantized;
    CHECK(loaded->linear(name).metadata() == fresh->linear(name).metadata());
    const auto a = loaded->linear(name).state(), b = fresh->linear(name).state();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(at::equal(a[i].second, b[i].second));
    }
    CHECK(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
  }
  CHECK(quantized == 5 * 7);  // every projection of the 5 layers (lm_head is tied)
}

TEST_CASE("gguf perplexity on stories260K: q6_K near float, q2_K worse", "[gguf][plugin][ppl][slow]") {
  // stories260K's rows of 64 and 172 values fall back (q6_K -> q8_0 / f16, q2_K -> q4_0 / f16).
  auto eval_ppl = [](const std::string& extra) {
    const std::string cmd = test::qrun_exe().string() + " --log-level warn eval --model " +
                            test::asset("models/stories260K").string() + " --metric perplexity --data " +
                            test::asset("datasets/wikitext-2-raw/wiki.test.raw").string() +
                            " --param protocol=chunks --param n_ctx=256 --param max_windows=16 --json" + extra;
    auto r = test::run_command(cmd);
    INFO(cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    for (const auto& v : j["result"]["values"])
      if (v["name"] == "ppl") return v["value"].get<double>();
    FAIL("no ppl value");
    return 0.0;
  };
  const double fp = eval_ppl("");
  const double q6 = eval_ppl(" --transform gguf:type=q6_K");
  const double q2 = eval_ppl(" --transform gguf:type=q2_K");
  CAPTURE(fp, q6, q2);
  WARN("stories260K ppl: float " << fp << ", q6_K " << q6 << ", q2_K " << q2);
  CHECK(std::fabs(q6 / fp - 1) <= 2e-3);
  CHECK(q2 > q6);
}

TEST_CASE("Q4_K_M on tiny-qwen2 gives each tensor llama.cpp's type and quantizes the tied embedding",
          "[gguf][plugin][mix]") {
  // 2 layers, hidden 64, ffn 176, tied: Q4_K_M's q4_K falls back to q5_0 on 64-wide rows, its
  // q6_K (attn_v / ffn_down of the second visit) to q8_0, and 176-wide rows to f16; the tied
  // embedding takes the output rule: q8_0 (64 % 256 != 0).
  c10::InferenceMode guard;
  auto b = registry().make_backend("hf", {{"path", test::asset("models/tiny-qwen2").string()}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  Model& model = **m;
  at::Tensor embed_before;
  for (auto& [name, t] : model.other_tensors())
    if (name == "model.embed_tokens.weight") embed_before = t.clone();
  REQUIRE(embed_before.defined());
  auto r = run_gguf(model, {{"type", std::string("q4_k_m")}});
  if (!r) FAIL(r.error().message());
  const auto& types = r->details["types"];
  CHECK(types["model.layers.0.self_attn.v_proj"] == "q5_0");
  CHECK(types["model.layers.1.self_attn.v_proj"] == "q8_0");
  CHECK(types["model.layers.0.self_attn.q_proj"] == "q5_0");
  CHECK(types["model.layers.0.mlp.down_proj"] == "f16");
  CHECK(types["model.layers.1.mlp.down_proj"] == "f16");
  CHECK(r->details["embedding_type"] == "q8_0");
  CHECK(r->details["method"] == "Q4_K_M");
  // The embedding now holds ggml's q8_0 round trip of its float32 values (stored back in bf16).
  const at::Tensor x = embed_before.to(at::kFloat).contiguous();
  std::vector<std::uint8_t> q(gguf::row_size(GgmlType::q8_0, 64) * static_cast<std::size_t>(x.size(0)));
  (void)gguf::quantize_rows(GgmlType::q8_0, x.data_ptr<float>(), q.data(), x.size(0), 64, nullptr);
  at::Tensor deq = at::empty_like(x);
  gguf::dequantize_values(GgmlType::q8_0, q.data(), deq.data_ptr<float>(), x.numel());
  for (auto& [name, t] : model.other_tensors())
    if (name == "model.embed_tokens.weight") CHECK(at::equal(t, deq.to(t.scalar_type())));
}

TEST_CASE("a name that is both a ggml type and a file type is the type unless mix=true", "[gguf][plugin][mix]") {
  c10::InferenceMode guard;
  at::manual_seed(5);
  const at::Tensor w = at::randn({8, 256}) * 0.1;
  auto pure = make_tensor_model({{"blk.0.attn_v.weight", w}, {"blk.0.ffn_up.weight", w}}, "fixture");
  auto r = run_gguf(*pure, {{"type", std::string("Q2_K")}});
  if (!r) FAIL(r.error().message());
  CHECK(r->details["types"]["blk.0.attn_v.weight"] == "q2_K");
  auto mixed = make_tensor_model({{"blk.0.attn_v.weight", w}, {"blk.0.ffn_up.weight", w}}, "fixture");
  r = run_gguf(*mixed, {{"type", std::string("Q2_K")}, {"mix", true}});
  if (!r) FAIL(r.error().message());
  CHECK(r->details["types"]["blk.0.attn_v.weight"] == "q3_K");  // Q2_K's attn_v rule (n_gqa < 4)
  CHECK(r->details["types"]["blk.0.ffn_up.weight"] == "q2_K");
  auto bad = make_tensor_model({{"x", w}}, "fixture");
  auto e = run_gguf(*bad, {{"type", std::string("q4_K")}, {"mix", true}});
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().thing == "gguf.mix");
  auto needs = run_gguf(*bad, {{"type", std::string("Q2_K_S")}});
  REQUIRE_FALSE(needs.ok());
  CHECK(needs.error().thing == "gguf.imatrix");
}
