// The calibration-based quantizers end to end on stories260K (pretrained Llama) and tiny-qwen2
// (random Qwen2): checkpoints written by `qrun quantize` load back as their kinds, bit-identical
// to the in-process transform, with the calibration recorded; and quality against round-to-nearest
// at the same bits and grid: KL to the float model and perplexity on WikiText-2 windows, every
// variant of a model scored on the same windows against one shared float baseline, with GPTQ and
// AWQ calibrated on a disjoint part of the same file (wiki_split below).
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/plugin.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <cstdlib>
#include <iterator>
#include <map>
#include <sstream>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::string& path) {
  auto b = registry().make_backend("hf", {{"path", path}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

// ---- Quality against round-to-nearest ---------------------------------------------------------
// Text of the evaluation's domain, split so that calibration and evaluation never share a token:
// WikiText-2's wiki.test.raw (the only WikiText-2 split in the assets) cut at the first line break
// after byte kEvalBytes; the evaluated windows come from the part before the cut, the calibration
// windows from the file's last kCalibBytes (from a line start), far after it. The GPTQ and AWQ
// papers calibrate on text of the evaluation's kind (WikiText-2 train, C4, pile); calibrating on
// datasets/calibration.json (chat prompts) and scoring Wikipedia text measures a domain shift
// instead (see the closing notes of issue 15: layer errors and KL fall, perplexity need not).
constexpr std::size_t kEvalBytes = 40000, kCalibBytes = 200000;

struct Split { std::filesystem::path eval, calib; };

const Split& wiki_split() {
  static const Split s = [] {
    std::ifstream in(test::asset("datasets/wikitext-2-raw/wiki.test.raw"), std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(all.size() > kEvalBytes + kCalibBytes);
    const std::size_t cut = all.find('\n', kEvalBytes) + 1;
    const std::size_t from = all.find('\n', all.size() - kCalibBytes) + 1;
    REQUIRE(from > cut);
    const auto dir = test::temp_dir("wiki_split");
    Split r{dir / "eval.txt", dir / "calib.txt"};
    std::ofstream(r.eval, std::ios::binary) << all.substr(0, cut);
    std::ofstream(r.calib, std::ios::binary) << all.substr(from);
    return r;
  }();
  return s;
}

// "name:k=v,k=v" with v a bool, an integer, a decimal or a string (as `qrun --transform` reads it).
std::pair<std::string, ParamMap> transform_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  ParamMap p;
  std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  for (std::size_t a = 0, b; a < rest.size(); a = b + 1) {
    b = rest.find(',', a);
    if (b == std::string::npos) b = rest.size();
    const std::string kv = rest.substr(a, b - a), k = kv.substr(0, kv.find('=')), v = kv.substr(kv.find('=') + 1);
    char* end = nullptr;
    const long long i = std::strtoll(v.c_str(), &end, 10);
    if (v == "true" || v == "false") p[k] = v == "true";
    else if (!v.empty() && *end == '\0') p[k] = static_cast<std::int64_t>(i);
    else p[k] = v;
  }
  return {spec.substr(0, colon), p};
}

struct Quality { double kl = 0, ppl = 0; };

// Every variant of `model` against the float model on the same windows: the base's log-probs are
// computed once per window and shared. Windows: consecutive n_ctx-token chunks of the eval text
// (tokenized once, with the tokenizer's special tokens); every next-token prediction is scored.
// kl: mean over positions of KL(base || variant) in nats; ppl: exp(mean NLL of the next token).
std::vector<Quality> qualities(const std::string& model, const std::vector<std::string>& specs, std::int64_t n_windows,
                               std::int64_t n_ctx, Quality& base) {
  auto fp = load_model(test::asset(model).string());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  std::vector<std::unique_ptr<Model>> variants;
  for (const auto& s : specs) {
    CAPTURE(s);
    auto [name, params] = transform_spec(s);
    if (name == "gptq" || name == "awq") params["calibration"] = wiki_split().calib.string();
    auto t = registry().make_transform(name, params);
    if (!t) FAIL(t.error().message());
    auto m = load_model(test::asset(model).string());
    auto r = (*t)->apply(*m, *ctx);
    if (!r) FAIL(r.error().message());
    variants.push_back(std::move(m));
  }
  c10::InferenceMode guard;
  std::ifstream in(wiki_split().eval, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto ids = fp->tokenizer().encode(text, true);
  REQUIRE(static_cast<std::int64_t>(ids.size()) >= n_windows * n_ctx);
  std::vector<double> kl(specs.size(), 0), nll(specs.size(), 0);
  double base_nll = 0;
  std::int64_t scored = 0;
  for (std::int64_t w = 0; w < n_windows; ++w) {
    const at::Tensor x = at::tensor(std::vector<std::int64_t>(ids.begin() + w * n_ctx, ids.begin() + (w + 1) * n_ctx)).unsqueeze(0);
    const at::Tensor next = x.slice(1, 1).reshape({-1, 1});
    const at::Tensor lp = at::log_softmax(fp->logits(x).slice(1, 0, n_ctx - 1).reshape({n_ctx - 1, -1}).to(at::kDouble), -1);
    base_nll -= lp.gather(1, next).sum().item<double>();
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const at::Tensor lq =
          at::log_softmax(variants[v]->logits(x).slice(1, 0, n_ctx - 1).reshape({n_ctx - 1, -1}).to(at::kDouble), -1);
      kl[v] += (lp.exp() * (lp - lq)).sum().item<double>();
      nll[v] -= lq.gather(1, next).sum().item<double>();
    }
    scored += n_ctx - 1;
  }
  base = {0, std::exp(base_nll / static_cast<double>(scored))};
  std::vector<Quality> out;
  for (std::size_t v = 0; v < specs.size(); ++v)
    out.push_back({kl[v] / static_cast<double>(scored), std::exp(nll[v] / static_cast<double>(scored))});
  return out;
}

void check_roundtrip(const std::string& quantizer, const std::string& params, const ParamMap& in_process,
                     const std::string& kind, const nlohmann::json& expect_config) {
  const auto dir = test::temp_dir(quantizer + "_ckpt");
  const std::string model = test::asset("models/stories260K").string();
  std::string cmd = test::qrun_exe().string() + " --log-level warn quantize --model " + model + " --quantizer " + quantizer;
  for (std::size_t a = 0, b; a < params.size(); a = b + 1) {
    b = params.find(',', a);
    if (b == std::string::npos) b = params.size();
    cmd += " --param " + params.substr(a, b - a);
  }
  auto r = test::run_command(cmd + " --out " + (dir / "q").string());
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  // The calibration is recorded with the file's hash.
  const auto log = nlohmann::json::parse(std::ifstream(dir / "q" / "qrun_quantize.json"));
  const auto& cal = log["transforms"].back()["details"]["calibration"];
  CHECK(cal["sha256"] == *sha256_file(test::source_dir() / "datasets/calibration.json"));
  CHECK(cal["tokens"].get<std::int64_t>() == cal["windows"].get<std::int64_t>() * cal["seq_len"].get<std::int64_t>());
  // config.json carries the format's quantization_config, with the keys AutoGPTQ / AutoAWQ write.
  const auto qc = nlohmann::json::parse(std::ifstream(dir / "q" / "config.json"))["quantization_config"];
  for (const auto& [k, v] : expect_config.items()) {
    CAPTURE(k);
    CHECK(qc.value(k, nlohmann::json()) == v);
  }
  auto loaded = load_model((dir / "q").string());
  auto fresh = load_model(model);
  auto t = registry().make_transform(quantizer, in_process);
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  for (const auto& name : fresh->linear_names()) {
    CAPTURE(name);
    const bool quantized = name.find("layers.") != std::string::npos;
    REQUIRE(loaded->linear(name).kind() == (quantized ? kind : "dense"));
    const auto a = loaded->linear(name).state(), b = fresh->linear(name).state();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(at::equal(a[i].second, b[i].second));
    }
    CHECK(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
  }
  // Norm weights (AWQ folds its scales into them) are saved as the transform left them.
  const auto a = loaded->other_tensors(), b = fresh->other_tensors();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(at::equal(a[i].second, b[i].second));
  }
}

}  // namespace

TEST_CASE("gptq checkpoints of stories260K load back as gptq, equal to the in-process transform", "[gptq][model][slow]") {
  check_roundtrip("gptq", "bits=3,group_size=32,sym=false,act_order=true,n_samples=4,seq_len=64",
                  {{"bits", std::int64_t{3}}, {"group_size", std::int64_t{32}}, {"sym", false}, {"act_order", true},
                   {"n_samples", std::int64_t{4}}, {"seq_len", std::int64_t{64}}},
                  "gptq",
                  {{"quant_method", "gptq"}, {"bits", 3}, {"group_size", 32}, {"desc_act", true}, {"sym", false},
                   {"static_groups", false}, {"true_sequential", true}, {"damp_percent", 0.01},
                   {"checkpoint_format", "gptq"}});
}

TEST_CASE("awq checkpoints of stories260K load back as awq, equal to the in-process transform", "[awq][model][slow]") {
  check_roundtrip("awq", "bits=4,group_size=-1,n_samples=2,seq_len=64",
                  {{"bits", std::int64_t{4}}, {"group_size", std::int64_t{-1}}, {"n_samples", std::int64_t{2}},
                   {"seq_len", std::int64_t{64}}},
                  "awq",
                  {{"quant_method", "awq"}, {"bits", 4}, {"group_size", -1}, {"zero_point", true}, {"version", "gemm"},
                   {"modules_to_not_convert", nullptr}});
}

TEST_CASE("gptq and awq against round-to-nearest on stories260K and tiny-qwen2", "[gptq][awq][ppl][slow]") {
  // Per-row grids (group_size -1: the models' 64- and 172-column rows are below AutoGPTQ's g128),
  // asymmetric for all three methods (RTN's and AWQ's grid is pseudo_quantize_tensor's, GPTQ's
  // find_params; the same grid on rows that span zero). GPTQ: the reference's 128 calibration
  // windows (of 256 tokens); AWQ: 8 blocks of 256 (its search runs 200 partial forwards per pass).
  const std::string g = ",group_size=-1,sym=false,n_samples=128,seq_len=256";
  const std::vector<std::string> specs = {"rtn:bits=3,group_size=-1", "rtn:bits=4,group_size=-1", "gptq:bits=3" + g,
                                          "gptq:bits=4" + g, "gptq:bits=4,act_order=true" + g,
                                          "awq:bits=4,group_size=-1,n_samples=8,seq_len=256"};
  for (const std::string model : {"models/stories260K", "models/tiny-qwen2"}) {
    CAPTURE(model);
    Quality base;
    const auto q = qualities(model, specs, model == "models/stories260K" ? 40 : 8, 256, base);
    const Quality &r3 = q[0], &r4 = q[1], &g3 = q[2], &g4 = q[3], &g4a = q[4], &a4 = q[5];
    std::ostringstream table;
    table << model << " (base ppl " << base.ppl << "): KL / ppl";
    for (std::size_t i = 0; i < specs.size(); ++i) table << "\n  " << specs[i] << ": " << q[i].kl << " / " << q[i].ppl;
    WARN(table.str());
    // Both methods minimise the layers' output error on calibration data: closer to the float model.
    CHECK(g3.kl < r3.kl);
    CHECK(g4.kl < r4.kl);
    CHECK(g4a.kl <= g4.kl);
    CHECK(a4.kl < r4.kl);
    if (model == "models/stories260K") {
      // Measured (2026-12-07, 40 windows, 10200 scored tokens): base 97.95; rtn3 187.5, gptq3 129.0;
      // rtn4 104.87, gptq4 103.89, gptq4 act_order 103.06, awq4 105.62 (KL 0.263, 0.172, 0.159, 0.205).
      // A TinyStories model is miscalibrated on Wikipedia (ln ppl ratio 0.07 against KL 0.26), so
      // at 4 bits the perplexity order is within the spread of the calibration itself: gptq4 with
      // 32 windows reached 108.99 at the same KL (0.177), awq4 with 32 blocks 106.05. Asserted where
      // measured with the reference's settings; awq4's perplexity is not (KL is, above).
      CHECK(g3.ppl < r3.ppl);
      CHECK(g4.ppl < r4.ppl);
      CHECK(g4a.ppl < r4.ppl);
    } else {
      // A random model's perplexity is noise around its base value: closeness to the base is the measure.
      CHECK(std::fabs(g3.ppl - base.ppl) < std::fabs(r3.ppl - base.ppl));
      CHECK(std::fabs(g4.ppl - base.ppl) < std::fabs(r4.ppl - base.ppl));
      CHECK(std::fabs(a4.ppl - base.ppl) < std::fabs(r4.ppl - base.ppl));
    }
  }
}
