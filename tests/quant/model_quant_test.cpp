// Quantizing tiny-qwen2 end to end: quantize -> save (qrun quantize) -> load is bit-identical, and
// the quantized model's WikiText-2 perplexity is finite and not better than full precision's
// beyond noise.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::filesystem::path& folder) {
  auto backend = registry().make_backend("hf", {{"path", folder.string()}});
  REQUIRE(backend.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto model = (*backend)->load(*ctx);
  if (!model.ok()) FAIL(model.error().message());
  return std::move(*model);
}

std::unique_ptr<Model> quantized_in_process(const std::string& quantizer) {
  auto model = load_model(test::asset("models/tiny-qwen2"));
  auto t = registry().make_transform(quantizer, {});
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto report = (*t)->apply(*model, *ctx);
  if (!report.ok()) FAIL(report.error().message());
  REQUIRE(report->details["layers_quantized"].get<std::int64_t>() == 14);  // 2 layers x 7 projections
  return model;
}

std::unique_ptr<Model> quantized_through_checkpoint(const std::string& quantizer) {
  const auto dir = test::temp_dir("quant_" + quantizer);
  const auto out = dir / "ckpt";
  auto r = test::run_command(test::qrun_exe().string() + " quantize --model " +
                             test::asset("models/tiny-qwen2").string() + " --quantizer " + quantizer + " --out " +
                             out.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::filesystem::exists(out / "model.safetensors"));
  REQUIRE(std::filesystem::exists(out / "tokenizer.json"));
  return load_model(out);
}

void require_bit_identical(Model& a, Model& b) {
  REQUIRE(a.linear_names() == b.linear_names());
  for (const auto& name : a.linear_names()) {
    CAPTURE(name);
    REQUIRE(a.linear(name).kind() == b.linear(name).kind());
    const NamedTensors sa = a.linear(name).state(), sb = b.linear(name).state();
    REQUIRE(sa.size() == sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) {
      CAPTURE(sa[i].first);
      REQUIRE(sa[i].first == sb[i].first);
      REQUIRE(sa[i].second.scalar_type() == sb[i].second.scalar_type());
      REQUIRE(at::equal(sa[i].second.cpu(), sb[i].second.cpu()));
    }
  }
  const NamedTensors oa = a.other_tensors(), ob = b.other_tensors();
  REQUIRE(oa.size() == ob.size());
  for (std::size_t i = 0; i < oa.size(); ++i) REQUIRE(at::equal(oa[i].second.cpu(), ob[i].second.cpu()));
}

std::vector<std::int64_t> wiki_tokens(const Model& model, std::size_t n) {
  std::ifstream in(test::asset("datasets/wikitext-2-raw/wiki.test.raw"), std::ios::binary);
  std::string text(8000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  text.resize(text.rfind('\n') + 1);  // whole lines: never cut a UTF-8 sequence
  auto ids = model.tokenizer().encode(text, false);
  REQUIRE(ids.size() >= n);
  ids.resize(n);
  return ids;
}

// Sliding-window perplexity as the transformers perplexity guide computes it: windows of
// `max_len` tokens moved by `stride`; each window scores only the tokens not scored before.
// NLL summed in double from float32 log_softmax.
double perplexity(Model& model, const std::vector<std::int64_t>& ids, std::int64_t max_len, std::int64_t stride) {
  c10::InferenceMode guard;
  const auto n = static_cast<std::int64_t>(ids.size());
  at::Tensor all = at::tensor(ids, at::TensorOptions().dtype(at::kLong));
  double nll = 0;
  std::int64_t count = 0, prev_end = 0;
  for (std::int64_t begin = 0; begin < n; begin += stride) {
    const std::int64_t end = std::min(begin + max_len, n);
    const std::int64_t target_len = end - prev_end;
    at::Tensor input = all.slice(0, begin, end).unsqueeze(0);
    at::Tensor logp = at::log_softmax(model.logits(input).to(at::kFloat)[0], -1);  // [T, V]
    // position t predicts token t+1; score targets in [end - target_len, end), skipping position 0
    for (std::int64_t t = std::max<std::int64_t>(end - target_len, begin + 1); t < end; ++t) {
      nll -= logp[t - begin - 1][ids[static_cast<std::size_t>(t)]].item<double>();
      ++count;
    }
    prev_end = end;
    if (end == n) break;
  }
  return std::exp(nll / static_cast<double>(count));
}

}  // namespace

TEST_CASE("nf4 tiny-qwen2 survives quantize, save and load bit-identically", "[quant][model][nf4]") {
  auto in_process = quantized_in_process("nf4");
  auto loaded = quantized_through_checkpoint("nf4");
  require_bit_identical(*in_process, *loaded);
  at::Tensor ids = at::arange(100, 132, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  REQUIRE(at::equal(in_process->logits(ids), loaded->logits(ids)));
}

TEST_CASE("int8 tiny-qwen2 survives quantize, save and load bit-identically", "[quant][model][int8]") {
  auto in_process = quantized_in_process("int8");
  auto loaded = quantized_through_checkpoint("int8");
  require_bit_identical(*in_process, *loaded);
  at::Tensor ids = at::arange(100, 132, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  REQUIRE(at::equal(in_process->logits(ids), loaded->logits(ids)));
}

TEST_CASE("quantized tiny-qwen2 has a finite WikiText-2 perplexity no better than full precision beyond noise",
          "[quant][model][ppl]") {
  // Checks: PPL over the first 384 tokens of wiki.test.raw (windows of 128, stride 64) is finite for
  // fp, nf4, fp4 and int8, and ln PPL_q >= ln PPL_fp - 0.02: tiny-qwen2 is random, so quantization
  // noise may move its PPL either way by a little; 0.02 (2 % of PPL) bounds that noise.
  auto fp = load_model(test::asset("models/tiny-qwen2"));
  const auto ids = wiki_tokens(*fp, 384);
  const double ppl_fp = perplexity(*fp, ids, 128, 64);
  REQUIRE(std::isfinite(ppl_fp));
  for (const std::string q : {"nf4", "fp4", "int8"}) {
    auto model = quantized_in_process(q);
    const double ppl_q = perplexity(*model, ids, 128, 64);
    CAPTURE(q, ppl_fp, ppl_q);
    REQUIRE(std::isfinite(ppl_q));
    REQUIRE(std::log(ppl_q) >= std::log(ppl_fp) - 0.02);
  }
}
