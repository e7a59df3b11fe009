// Batched generation with a KV cache, as transformers' generate() does it: left-padded prompts,
// positions from the attention mask, greedy argmax or seeded sampling (temperature, top-k,
// top-p in that order: the LogitsProcessorList generate() builds), stop on eos ids.
#include "generation.hpp"
#include "hf_model.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace qrun::hf {
namespace {

Result<void> check_config(const GenerationConfig& g, std::int64_t vocab) {
  if (g.max_new_tokens < 0)
    return Error{"generation.max_new_tokens", "is negative", "use a value >= 0"};
  if (g.do_sample) {
    if (!(g.temperature > 0) || !std::isfinite(g.temperature))
      return Error{"generation.temperature", "must be > 0 when sampling", "use e.g. 0.7, or greedy decoding"};
    if (!(g.top_p > 0 && g.top_p <= 1))
      return Error{"generation.top_p", "must be in (0, 1]", "use e.g. 0.9 (1 disables it)"};
    if (g.top_k < 0) return Error{"generation.top_k", "is negative", "use 0 (off) or a positive count"};
  }
  for (auto id : g.stop_token_ids)
    if (id < 0 || id >= vocab)
      return Error{"generation.stop_token_ids", "id " + std::to_string(id) + " is outside the vocabulary",
                   "use ids below " + std::to_string(vocab)};
  return {};
}

}  // namespace

at::Tensor choose(at::Tensor scores, const GenerationConfig& g, at::Generator& gen) {
  if (!g.do_sample) return scores.argmax(-1).to(at::kCPU);  // first maximum on ties, as torch.argmax
  const double neg_inf = -std::numeric_limits<double>::infinity();
  // TemperatureLogitsWarper: scores / temperature.
  if (g.temperature != 1.0) scores = scores / g.temperature;
  // TopKLogitsWarper: drop scores below the k-th largest.
  if (g.top_k > 0) {
    const auto k = std::min<std::int64_t>(g.top_k, scores.size(-1));
    at::Tensor kth = std::get<0>(scores.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    scores = scores.masked_fill(scores < kth, neg_inf);
  }
  // TopPLogitsWarper: ascending sort, drop tokens whose cumulative probability <= 1 - top_p,
  // always keeping the most likely one.
  if (g.top_p < 1.0) {
    auto [sorted, idx] = scores.sort(/*dim=*/-1, /*descending=*/false);
    at::Tensor cum = sorted.softmax(-1).cumsum(-1);
    at::Tensor remove_sorted = cum <= (1.0 - g.top_p);
    remove_sorted.select(-1, remove_sorted.size(-1) - 1).fill_(false);
    at::Tensor remove = remove_sorted.scatter(-1, idx, remove_sorted);
    scores = scores.masked_fill(remove, neg_inf);
  }
  // Inverse-transform sampling: one uniform per row from the seeded CPU generator (the same
  // stream on every device), located in the row's float64 cumulative distribution on the model's
  // device. searchsorted(right) returns the first i with cdf[i] > u * total, so a token of
  // probability 0 (removed above) is never chosen. (at::multinomial without replacement draws
  // one exponential per vocabulary entry on the CPU: ~0.4 s per step for 96 x 151936.)
  at::Tensor cdf = scores.softmax(-1).to(at::kDouble).cumsum(-1);
  at::Tensor u = at::rand({scores.size(0), 1}, gen, at::TensorOptions().dtype(at::kDouble)).to(cdf.device());
  at::Tensor target = u * cdf.narrow(-1, cdf.size(-1) - 1, 1);
  at::Tensor idx = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(-1);
  return idx.clamp_max(scores.size(-1) - 1).to(at::kCPU);
}

Result<void> check_prompts(const std::vector<std::vector<std::int64_t>>& prompts, const GenerationConfig& g,
                           std::int64_t vocab) {
  QRUN_TRY(check_config(g, vocab));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return Error{"prompts[" + std::to_string(i) + "]", "is empty", "give at least one token (e.g. BOS)"};
    for (auto id : prompts[i])
      if (id < 0 || id >= vocab)
        return Error{"prompts[" + std::to_string(i) + "]", "token id " + std::to_string(id) + " outside the vocabulary",
                     "use the model's own tokenizer"};
  }
  return {};
}

PackedPrompts pack_prompts(const std::vector<std::vector<std::int64_t>>& prompts, c10::Device device) {
  std::size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  const auto b = static_cast<std::int64_t>(prompts.size()), t = static_cast<std::int64_t>(longest);
  // Left padding: real tokens at the end of each row; padded slots hold id 0 and mask 0.
  at::Tensor ids = at::zeros({b, t}, at::kLong), mask = at::zeros({b, t}, at::kLong);
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& p = prompts[i];
    const auto off = t - static_cast<std::int64_t>(p.size());
    ids[i].slice(0, off).copy_(at::tensor(p, at::kLong));
    mask[i].slice(0, off).fill_(1);
  }
  PackedPrompts out;
  out.ids = ids.to(device);
  out.mask = mask.to(device);
  out.positions = (out.mask.cumsum(-1) - 1).masked_fill(out.mask.eq(0), 1);
  return out;
}

RowRecorder::RowRecorder(std::size_t rows, std::vector<std::int64_t> stops)
    : out_(rows), done_(rows, false), stops_(std::move(stops)) {}

bool RowRecorder::add(const std::int64_t* ids) {
  for (std::size_t i = 0; i < out_.size(); ++i) {
    if (done_[i]) continue;
    out_[i].tokens.push_back(ids[i]);
    if (std::find(stops_.begin(), stops_.end(), ids[i]) != stops_.end()) {
      out_[i].stopped_on_eos = true;
      done_[i] = true;
    }
  }
  return all_done();
}

bool RowRecorder::all_done() const { return std::all_of(done_.begin(), done_.end(), [](bool d) { return d; }); }

void RowRecorder::add_prefill_seconds(double s) {
  for (auto& o : out_) o.prefill_seconds += s;
}

void RowRecorder::add_decode_seconds(double s) {
  for (std::size_t i = 0; i < out_.size(); ++i)
    if (!done_[i]) out_[i].decode_seconds += s;
}

Result<std::vector<Generation>> HfModel::generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                                  const GenerationConfig& g) {
  if (prompts.empty()) return std::vector<Generation>{};
  QRUN_TRY(check_prompts(prompts, g, config_.vocab_size));
  if (g.max_new_tokens == 0) return std::vector<Generation>(prompts.size());
  // CUDA: a static cache and graph-replayed steps (static_generate.cpp). The CPU keeps the
  // dynamic cache, whose outputs the golden tests pin.
  if (device_.is_cuda()) return generate_static(prompts, g, /*allow_graph=*/true);
  const std::vector<std::int64_t>& stops = g.stop_token_ids.empty() ? config_.eos_token_ids : g.stop_token_ids;
  const auto b = static_cast<std::int64_t>(prompts.size());

  c10::InferenceMode guard;
  PackedPrompts packed = pack_prompts(prompts, device_);
  at::Tensor mask = packed.mask, positions = packed.positions;

  at::Generator gen = at::detail::createCPUGenerator(g.seed);
  RowRecorder rec(prompts.size(), stops);
  KvCache cache;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();

  at::Tensor hidden = decode(packed.ids, positions, mask, &cache);
  for (std::int64_t step = 0; step < g.max_new_tokens; ++step) {
    // next_token_logits = logits[:, -1, :] in float32
    at::Tensor scores = logits_from_hidden(hidden.select(1, hidden.size(1) - 1));
    at::Tensor next = choose(scores, g, gen);  // CPU: synchronises the device, so timings are real
    const auto now = clock::now();
    const double seconds = std::chrono::duration<double>(now - start).count();
    if (step == 0)
      rec.add_prefill_seconds(seconds);
    else
      rec.add_decode_seconds(seconds);
    start = now;
    if (rec.add(next.data_ptr<std::int64_t>()) || step + 1 == g.max_new_tokens) break;
    // One more token per row (finished rows keep decoding; their tokens are not recorded).
    at::Tensor step_ids = next.to(device_).unsqueeze(1);
    positions = positions.select(1, positions.size(1) - 1).unsqueeze(1) + 1;
    mask = at::cat({mask, at::ones({b, 1}, mask.options())}, 1);
    hidden = decode(step_ids, positions, mask, &cache);
  }
  return rec.take();
}

}  // namespace qrun::hf
