// TEST-ONLY plugin library (libqrun_test_plugins.so, built into the test tree, never installed):
// a tiny in-memory model backend, a defense and a quantizer that change its weights, and metrics
// that count their calls and fail or kill the process on demand, for experiment and runner tests.
// Most metrics declare no values (MetricSpec::values empty: each value shown under its own name);
// test_diff and test_logits declare theirs, test_logits with the product metrics' criteria keys.
//
// Failure injection comes from the environment so that it does not change the experiment (a
// changed experiment would refuse to resume):
//   QRUN_TEST_COUNTER=<file>    every metric evaluation appends "<metric> <variant>" to the file
//   QRUN_TEST_FAIL_ON=<variant> test_weight_sum returns an Error on that variant
//   QRUN_TEST_KILL_ON=<variant> test_weight_sum kills the process (SIGKILL) on that variant
//   QRUN_TEST_HANG_ON=<variant> test_weight_sum sleeps 120 s on that variant (to be killed from outside)
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <chrono>
#include <map>
#include <thread>
#include <tuple>

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void count_call(const std::string& metric, const std::string& variant) {
  const std::string file = env("QRUN_TEST_COUNTER");
  if (file.empty()) return;
  std::ofstream out(file, std::ios::app);
  out << metric << " " << variant << "\n";
}

// Bytes as token ids modulo the vocabulary.
class ByteTokenizer final : public qrun::Tokenizer {
 public:
  explicit ByteTokenizer(std::int64_t vocab) : vocab_(vocab) {}
  std::vector<std::int64_t> encode(std::string_view text, bool) const override {
    std::vector<std::int64_t> ids;
    for (unsigned char c : text) ids.push_back(c % vocab_);
    return ids;
  }
  std::string decode(const std::vector<std::int64_t>& ids, bool) const override {
    std::string s;
    for (auto id : ids) s += static_cast<char>('a' + id % 26);
    return s;
  }
  std::int64_t vocab_size() const override { return vocab_; }
  std::optional<std::int64_t> token_to_id(std::string_view) const override { return std::nullopt; }
  std::optional<std::int64_t> bos_id() const override { return std::nullopt; }
  std::optional<std::int64_t> eos_id() const override { return std::nullopt; }
  bool has_chat_template() const override { return false; }
  qrun::Result<std::string> apply_chat_template(const std::vector<qrun::ChatMessage>&, bool) const override {
    return qrun::Error{"test tokenizer", "has no chat template", ""};
  }

 private:
  std::int64_t vocab_;
};

// embed -> up_proj -> lm_head, fp32 on the CPU.
class TinyModel final : public qrun::Model {
 public:
  TinyModel(std::int64_t vocab, std::int64_t hidden, std::uint64_t seed) : tokenizer_(vocab) {
    config_.architecture = "TestTinyForCausalLM";
    config_.vocab_size = vocab;
    config_.hidden_size = hidden;
    config_.num_hidden_layers = 1;
    source_.name = "test_backend";
    auto gen = at::detail::createCPUGenerator(seed);
    embed_ = at::randn({vocab, hidden}, gen, at::kFloat);
    linears_["model.layers.0.mlp.up_proj"] =
        qrun::make_dense_linear(at::randn({hidden, hidden}, gen, at::kFloat), at::Tensor(), at::kFloat);
    linears_["lm_head"] = qrun::make_dense_linear(at::randn({vocab, hidden}, gen, at::kFloat), at::Tensor(), at::kFloat);
  }
  TinyModel(const TinyModel& o) : config_(o.config_), source_(o.source_), tokenizer_(o.tokenizer_) {
    embed_ = o.embed_.clone();
    for (const auto& [name, impl] : o.linears_) linears_[name] = impl->clone_to(c10::Device(c10::kCPU));
  }

  const qrun::ModelConfig& config() const override { return config_; }
  const qrun::Tokenizer& tokenizer() const override { return tokenizer_; }
  const qrun::ModelSource& source() const override { return source_; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  qrun::DType compute_dtype() const override { return qrun::DType::f32; }
  qrun::DType storage_dtype() const override { return qrun::DType::f32; }
  std::vector<std::string> linear_names() const override { return {"model.layers.0.mlp.up_proj", "lm_head"}; }
  qrun::LinearImpl& linear(const std::string& name) override { return *find(name); }
  const qrun::LinearImpl& linear(const std::string& name) const override { return *find(name); }
  qrun::Result<void> set_linear(const std::string& name, std::shared_ptr<qrun::LinearImpl> impl) override {
    find(name);
    linears_[name] = std::move(impl);
    return {};
  }
  qrun::NamedTensors other_tensors() override { return {{"model.embed_tokens.weight", embed_}}; }
  at::Tensor hidden_states(const at::Tensor& ids, const at::Tensor&) override {
    return find("model.layers.0.mlp.up_proj")->forward(embed_.index_select(0, ids.flatten()).view({ids.size(0), ids.size(1), -1}));
  }
  at::Tensor logits_from_hidden(const at::Tensor& h) override { return find("lm_head")->forward(h).to(at::kFloat); }
  qrun::Result<std::vector<qrun::Generation>> generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                                       const qrun::GenerationConfig& config) override {
    std::vector<qrun::Generation> out;
    for (const auto& p : prompts) {
      std::vector<std::int64_t> seq = p;
      qrun::Generation g;
      for (std::int64_t i = 0; i < config.max_new_tokens; ++i) {
        auto ids = at::tensor(seq, at::kLong).unsqueeze(0);
        const std::int64_t next = logits(ids).select(1, -1).argmax(-1).item<std::int64_t>();
        seq.push_back(next);
        g.tokens.push_back(next);
      }
      out.push_back(std::move(g));
    }
    return out;
  }
  qrun::Result<std::unique_ptr<qrun::Model>> clone() const override {
    return std::unique_ptr<qrun::Model>(std::make_unique<TinyModel>(*this));
  }

 private:
  std::shared_ptr<qrun::LinearImpl> find(const std::string& name) const {
    auto it = linears_.find(name);
    if (it == linears_.end()) throw qrun::ErrorException(qrun::Error{name, "no such linear layer", ""});
    return it->second;
  }
  qrun::ModelConfig config_;
  qrun::ModelSource source_;
  ByteTokenizer tokenizer_;
  at::Tensor embed_;
  std::map<std::string, std::shared_ptr<qrun::LinearImpl>> linears_;
};

// Sum of every linear weight, in fp64.
double weight_sum(const qrun::Model& m) {
  double s = 0;
  for (const auto& name : m.linear_names()) s += m.linear(name).weight(at::kDouble).sum().item<double>();
  return s;
}

// --- backend -----------------------------------------------------------------------------------
struct BackendCfg {
  std::int64_t vocab = 16;
  std::int64_t hidden = 8;
  std::int64_t seed = 0;
  std::string device = "cpu";
};
const auto backend_schema = qrun::schema<BackendCfg>(
    qrun::field("vocab", &BackendCfg::vocab).range(2, 4096).doc("vocabulary size"),
    qrun::field("hidden", &BackendCfg::hidden).range(1, 1024).doc("hidden size"),
    qrun::field("seed", &BackendCfg::seed).min(0).doc("weight initialisation seed"),
    qrun::field("device", &BackendCfg::device).choices({"cpu", "auto"}).doc("where the model lives"));

qrun::Result<std::unique_ptr<qrun::Model>> load(const BackendCfg& c, qrun::RunContext&) {
  return std::unique_ptr<qrun::Model>(std::make_unique<TinyModel>(c.vocab, c.hidden, static_cast<std::uint64_t>(c.seed)));
}

// --- transforms --------------------------------------------------------------------------------
struct NoiseCfg {
  double std = 0.01;
};
const auto noise_schema = qrun::schema<NoiseCfg>(qrun::field("std", &NoiseCfg::std).range(0.0, 1.0).doc("noise std"));

qrun::Result<qrun::TransformReport> add_noise(const NoiseCfg& c, qrun::Model& m, qrun::RunContext& ctx) {
  auto gen = ctx.generator(ctx.seed());
  for (const auto& name : m.linear_names()) {
    at::Tensor w = m.linear(name).weight(at::kFloat);
    QRUN_TRY(m.set_linear(name, qrun::make_dense_linear(w + at::randn(w.sizes(), gen, at::kFloat) * c.std, at::Tensor(), at::kFloat)));
  }
  return qrun::TransformReport{"noised " + std::to_string(m.linear_names().size()) + " layers", {{"std", c.std}}};
}

struct QuantCfg {
  double step = 0.05;
};
const auto quant_schema = qrun::schema<QuantCfg>(qrun::field("step", &QuantCfg::step).range(1e-6, 10.0).doc("grid step"));

qrun::Result<qrun::TransformReport> round_to_grid(const QuantCfg& c, qrun::Model& m, qrun::RunContext&) {
  for (const auto& name : m.linear_names()) {
    at::Tensor w = m.linear(name).weight(at::kFloat);
    QRUN_TRY(m.set_linear(name, qrun::make_dense_linear(at::round(w / c.step) * c.step, at::Tensor(), at::kFloat)));
  }
  return qrun::TransformReport{"rounded to a grid of " + std::to_string(c.step), {{"step", c.step}}};
}

// --- metrics -----------------------------------------------------------------------------------
struct SumCfg {
  double scale = 1.0;
};
const auto sum_schema = qrun::schema<SumCfg>(qrun::field("scale", &SumCfg::scale).min(0).doc("multiplies the sum"));

qrun::Result<std::vector<qrun::MetricResult>> eval_sum(const SumCfg& c, const qrun::MetricInputs& in, qrun::RunContext&) {
  std::vector<qrun::MetricResult> out;
  for (const auto& v : in.variants) {
    count_call("test_weight_sum", v.name);
    if (v.name == env("QRUN_TEST_KILL_ON")) std::raise(SIGKILL);
    if (v.name == env("QRUN_TEST_HANG_ON")) std::this_thread::sleep_for(std::chrono::seconds(120));
    if (v.name == env("QRUN_TEST_FAIL_ON")) {
      return qrun::Error{"variant " + v.name, "failing on request (QRUN_TEST_FAIL_ON)", "unset QRUN_TEST_FAIL_ON"};
    }
    qrun::MetricResult r;
    r.values.push_back({"weight_sum", c.scale * weight_sum(*v.model), std::nullopt, 2, "", qrun::Better::none, ""});
    r.method = "sum of all linear weights in fp64";
    out.push_back(std::move(r));
  }
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> eval_diff(const qrun::NoParams&, const qrun::MetricInputs& in, qrun::RunContext&) {
  std::vector<qrun::MetricResult> out;
  for (const auto& v : in.variants) {
    count_call("test_diff", v.name);
    double d = 0;
    std::int64_t n = 0;
    for (const auto& name : v.model->linear_names()) {
      at::Tensor a = v.model->linear(name).weight(at::kDouble), b = in.baseline->linear(name).weight(at::kDouble);
      d += (a - b).abs().sum().item<double>();
      n += a.numel();
    }
    qrun::MetricResult r;
    // mean |W_variant - W_baseline| over every linear weight, fp64
    r.values.push_back({"mean_abs_diff", d / static_cast<double>(n), std::nullopt, n, "", qrun::Better::lower, ""});
    out.push_back(std::move(r));
  }
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> eval_data(const qrun::NoParams&, const qrun::MetricInputs& in, qrun::RunContext&) {
  std::vector<qrun::MetricResult> out;
  for (const auto& v : in.variants) {
    count_call("test_data", v.name);
    qrun::MetricResult r;
    r.values.push_back({"bytes", static_cast<double>(std::filesystem::file_size(in.dataset->path)), std::nullopt, 1,
                        "bytes", qrun::Better::none, ""});
    out.push_back(std::move(r));
  }
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> eval_nan(const qrun::NoParams&, const qrun::MetricInputs& in, qrun::RunContext&) {
  std::vector<qrun::MetricResult> out;
  for (std::size_t i = 0; i < in.variants.size(); ++i) {
    qrun::MetricResult r;
    r.values.push_back({"broken", std::nan(""), std::nullopt, 1, "", qrun::Better::none, ""});
    out.push_back(std::move(r));
  }
  return out;
}

// Next-token statistics on a fixed text in two halves ("alpha", "beta"): the variant's perplexity
// and KL(P_base ‖ P_variant), overall and per half. Declares the same criteria keys as the product
// metrics (perplexity's max_ppl_increase_pct, kl_divergence's max_kl_mean, prompt_suite's
// max_category_kl), so experiments over the test plugins may set them.
const qrun::MetricSpec logits_spec{
    .compares_to_baseline = true,
    .needs_dataset = false,
    .values = {qrun::value("ppl", "PPL", "", qrun::Better::lower)
                   .doc("Perplexity")
                   .counting("predicted tokens")
                   .headline()
                   .charted(qrun::Chart::change_vs_baseline)
                   .criterion("max_ppl_increase_pct", qrun::Rule::increase_pct_at_most, "TEST ONLY: perplexity increase"),
               qrun::value("kl_mean", "mean KL", "nats", qrun::Better::lower)
                   .doc("Mean KL")
                   .counting("predicted tokens")
                   .headline()
                   .compared(qrun::Compare::none)
                   .criterion("max_kl_mean", qrun::Rule::at_most, "TEST ONLY: mean KL")
                   .criterion("max_category_kl", qrun::Rule::at_most, "TEST ONLY: worst half's mean KL", qrun::Scope::groups)}};

qrun::Result<std::vector<qrun::MetricResult>> eval_logits(const qrun::NoParams&, const qrun::MetricInputs& in, qrun::RunContext&) {
  const std::string text = "a fixed text the test metric predicts, token by token";
  const auto ids = in.baseline->tokenizer().encode(text, false);
  const at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0);
  const std::int64_t t = input.size(1) - 1;  // positions that predict a next token
  // log-probabilities [t, vocab] in float64
  auto logprobs = [&](qrun::Model& m) { return at::log_softmax(m.logits(input)[0].narrow(0, 0, t).to(at::kDouble), -1); };
  const at::Tensor base = logprobs(*in.baseline);
  const at::Tensor targets = input[0].narrow(0, 1, t);
  std::vector<qrun::MetricResult> out;
  for (const auto& v : in.variants) {
    count_call("test_logits", v.name);
    const at::Tensor lp = logprobs(*v.model);
    const at::Tensor nll = -lp.gather(1, targets.unsqueeze(1)).squeeze(1);
    const at::Tensor kl = (base.exp() * (base - lp)).sum(1);  // KL(P_base ‖ P_variant) per position, nats
    qrun::MetricResult r;
    r.values.push_back({"ppl", std::exp(nll.mean().item<double>()), std::nullopt, t, "", qrun::Better::lower, ""});
    r.values.push_back({"kl_mean", kl.mean().item<double>(), std::nullopt, t, "nats", qrun::Better::lower, ""});
    const std::int64_t half = t / 2;
    for (const auto& [group, from, len] : {std::tuple{"alpha", std::int64_t{0}, half}, std::tuple{"beta", half, t - half}})
      r.values.push_back({"kl_mean", kl.narrow(0, from, len).mean().item<double>(), std::nullopt, len, "nats",
                          qrun::Better::lower, group});
    r.method = "TEST ONLY: perplexity and KL(P_base || P_variant) of the next token on a fixed text, in float64";
    out.push_back(std::move(r));
  }
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> eval_throw(const qrun::NoParams&, const qrun::MetricInputs&, qrun::RunContext&) {
  throw std::runtime_error("boom");
}

}  // namespace

QRUN_PLUGIN("test_plugins", "0.0.1",
            qrun::backend("test_backend", backend_schema, "TEST ONLY: a tiny random in-memory model", load),
            qrun::transform("test_noise", noise_schema, qrun::Role::defense, "TEST ONLY: Gaussian weight noise", add_noise),
            qrun::transform("test_quant", quant_schema, qrun::Role::quantizer, "TEST ONLY: rounds weights to a grid", round_to_grid),
            qrun::metric("test_weight_sum", sum_schema, qrun::MetricSpec{false, false}, "TEST ONLY: sum of weights", eval_sum),
            qrun::metric("test_diff", qrun::no_params(),
                         qrun::MetricSpec{.compares_to_baseline = true,
                                          .needs_dataset = false,
                                          .values = {qrun::value("mean_abs_diff", "mean |ΔW|", "", qrun::Better::lower)
                                                         .doc("Mean |W_variant − W_baseline|")
                                                         .counting("linear weights")
                                                         .compared(qrun::Compare::none)}},
                         "TEST ONLY: mean |W - W_base|", eval_diff),
            qrun::metric("test_data", qrun::no_params(), qrun::MetricSpec{false, true}, "TEST ONLY: dataset size", eval_data),
            qrun::metric("test_nan", qrun::no_params(), qrun::MetricSpec{false, false}, "TEST ONLY: returns NaN", eval_nan),
            qrun::metric("test_throw", qrun::no_params(), qrun::MetricSpec{false, false}, "TEST ONLY: throws", eval_throw),
            qrun::metric("test_logits", qrun::no_params(), logits_spec, "TEST ONLY: next-token PPL and KL on a fixed text",
                         eval_logits));
