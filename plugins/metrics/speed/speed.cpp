// speed: prefill and decode throughput of a model on its device. Prefill: one forward pass over
// [batch_size, prompt_tokens] plus the last position's logits, timed until the logits are on the
// host. Decode: Model::generate (greedy, KV cache) for new_tokens; decode tokens/s = tokens after
// the first / time after the first. Warm-up runs first, then the median of `repetitions` runs.
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#ifdef QRUN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Speed {
  std::int64_t prompt_tokens = 128;
  std::int64_t new_tokens = 64;
  std::int64_t batch_size = 1;
  std::int64_t repetitions = 5;
  std::int64_t warmup = 1;
};

const auto schema = qrun::schema<Speed>(
    qrun::field("prompt_tokens", &Speed::prompt_tokens).range(1, 1 << 20).unit("tokens").doc("prompt length per sequence"),
    qrun::field("new_tokens", &Speed::new_tokens).range(2, 1 << 20).unit("tokens").doc("tokens generated per sequence"),
    qrun::field("batch_size", &Speed::batch_size).range(1, 4096).unit("sequences").doc("sequences per run"),
    qrun::field("repetitions", &Speed::repetitions).range(1, 1000).doc("timed runs; the median is reported"),
    qrun::field("warmup", &Speed::warmup).range(0, 1000).doc("untimed runs first"));

const qrun::MetricSpec spec{
    .compares_to_baseline = false,
    .needs_dataset = false,
    .values = {
        qrun::value("prefill_tokens_per_s", "prefill tokens/s", "tokens/s", qrun::Better::higher)
            .counting("timed repetitions")
            .compared(qrun::Compare::slowdown)
            .charted(qrun::Chart::per_variant)
            .criterion("max_prefill_slowdown", qrun::Rule::slowdown_at_most,
                       "Prefill slowdown vs the baseline, baseline `prefill_tokens_per_s` / variant's"),
        qrun::value("decode_tokens_per_s", "decode tokens/s", "tokens/s", qrun::Better::higher)
            .counting("timed repetitions that decoded a token")
            .headline()
            .compared(qrun::Compare::slowdown)
            .charted(qrun::Chart::per_variant)
            .criterion("max_decode_slowdown", qrun::Rule::slowdown_at_most,
                       "Decode slowdown vs the baseline, baseline `decode_tokens_per_s` / variant's"),
    }};

std::string device_name(c10::Device d) {
#ifdef QRUN_WITH_CUDA
  if (d.is_cuda()) return at::cuda::getDeviceProperties(d.has_index() ? d.index() : 0)->name;
#endif
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return "cpu (" + line.substr(line.find_first_not_of(' ', colon + 1)) + ")";
    }
  return d.str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Deterministic prompts: ids drawn uniformly from the tokenizer's ids below the model's rows,
// skipping BOS/EOS, from the run's seed.
std::vector<std::vector<std::int64_t>> make_prompts(qrun::Model& m, const Speed& p, qrun::RunContext& ctx) {
  const auto& tok = m.tokenizer();
  const std::int64_t hi = std::min(tok.vocab_size(), m.config().vocab_size);
  at::Generator gen = ctx.generator(ctx.seed() ^ 0x5350454544ull);  // "SPEED"
  const at::Tensor r = at::randint(hi, {p.batch_size, p.prompt_tokens}, gen, at::kLong);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(p.batch_size));
  const auto special = [&](std::int64_t id) {
    const auto& eos = m.config().eos_token_ids;
    return id == tok.bos_id().value_or(-1) || id == tok.eos_id().value_or(-1) ||
           std::find(eos.begin(), eos.end(), id) != eos.end();
  };
  auto acc = r.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < p.batch_size; ++i)
    for (std::int64_t j = 0; j < p.prompt_tokens; ++j) {
      std::int64_t id = acc[i][j];
      while (special(id)) id = (id + 1) % hi;
      out[static_cast<std::size_t>(i)].push_back(id);
    }
  return out;
}

qrun::Result<std::vector<qrun::MetricResult>> evaluate(const Speed& p, const qrun::MetricInputs& in, qrun::RunContext& ctx) {
  using clock = std::chrono::steady_clock;
  using qrun::Better;
  std::vector<qrun::MetricResult> results;
  for (const qrun::VariantModel& v : in.variants) {
    if (!v.model) return qrun::Error{"speed", "variant " + v.name + " has no model", "report this as a bug",
                                     qrun::ErrorCode::internal};
    qrun::Model& m = *v.model;
    const auto prompts = make_prompts(m, p, ctx);
    at::Tensor ids = at::empty({p.batch_size, p.prompt_tokens}, at::kLong);
    for (std::int64_t i = 0; i < p.batch_size; ++i)
      for (std::int64_t j = 0; j < p.prompt_tokens; ++j) ids[i][j] = prompts[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
    ids = ids.to(m.device());
    qrun::GenerationConfig g;
    g.max_new_tokens = p.new_tokens;
    std::vector<double> prefill, decode;
    std::int64_t decoded_min = p.new_tokens, decoded_total = 0;
    auto progress = ctx.progress("speed " + v.name, p.warmup + p.repetitions);
    for (std::int64_t rep = 0; rep < p.warmup + p.repetitions; ++rep) {
      const bool timed = rep >= p.warmup;
      {
        c10::InferenceMode guard;
        const auto t0 = clock::now();
        const at::Tensor h = m.hidden_states(ids, at::Tensor());
        const at::Tensor last = m.logits_from_hidden(h.select(1, h.size(1) - 1)).cpu();  // waits for the device
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        if (!last.isfinite().all().item<bool>())
          return qrun::Error{"speed variant " + v.name, "prefill logits are not finite", "check the model's forward pass"};
        if (timed) prefill.push_back(static_cast<double>(p.batch_size * p.prompt_tokens) / s);
      }
      auto gens = m.generate(prompts, g);
      if (!gens) return gens.error().within("speed " + v.name + ":");
      std::int64_t tokens = 0;
      double seconds = 0;
      for (const qrun::Generation& gen : *gens) {
        const auto after_first = static_cast<std::int64_t>(gen.tokens.size()) - 1;
        tokens += std::max<std::int64_t>(0, after_first);
        decoded_min = std::min(decoded_min, static_cast<std::int64_t>(gen.tokens.size()));
        seconds = std::max(seconds, gen.decode_seconds);  // the batch decodes together
      }
      if (timed && tokens > 0 && seconds > 0) {
        decode.push_back(static_cast<double>(tokens) / seconds);
        decoded_total += tokens;
      }
      progress->advance();
    }
    progress->finish();
    if (decode.empty())
      return qrun::Error{"speed variant " + v.name, "every generation stopped at its first token (EOS)",
                         "raise new_tokens or use another seed"};
    qrun::MetricResult r;
    const auto reps = static_cast<std::int64_t>(prefill.size());
    r.values = {{"prefill_tokens_per_s", median(prefill), std::nullopt, reps, "tokens/s", Better::higher, ""},
                {"decode_tokens_per_s", median(decode), std::nullopt, static_cast<std::int64_t>(decode.size()), "tokens/s",
                 Better::higher, ""}};
    const std::string dev = device_name(m.device());
    r.details = {{"device", dev},
                 {"prefill_tokens_per_s_runs", prefill},
                 {"decode_tokens_per_s_runs", decode},
                 {"prompt_tokens", p.prompt_tokens},
                 {"new_tokens", p.new_tokens},
                 {"batch_size", p.batch_size},
                 {"shortest_generation", decoded_min},
                 {"decoded_tokens_timed", decoded_total},
                 {"compute_dtype", std::string(qrun::to_string(m.compute_dtype()))}};
    if (decoded_min < p.new_tokens)
      ctx.warn("speed " + v.name + ": a generation stopped on EOS after " + std::to_string(decoded_min) + " of " +
               std::to_string(p.new_tokens) + " tokens; decode tokens/s counts the tokens actually decoded");
    r.method = "On " + dev + ": " + std::to_string(p.warmup) + " warm-up run(s), then the median of " +
               std::to_string(p.repetitions) + " runs. Prefill tokens/s = batch_size·prompt_tokens / time of one forward "
               "pass over " + std::to_string(p.batch_size) + "×" + std::to_string(p.prompt_tokens) +
               " seeded random tokens plus the last position's logits (until on the host). Decode tokens/s = tokens "
               "generated after the first / time after the first token, greedy with KV cache, up to " +
               std::to_string(p.new_tokens) + " new tokens (EOS stops a sequence).";
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

QRUN_PLUGIN("speed", "0.1.0",
            qrun::metric("speed", schema, spec,
                         "Prefill and decode tokens/s (median of repetitions after warm-up) with the device name",
                         evaluate));
