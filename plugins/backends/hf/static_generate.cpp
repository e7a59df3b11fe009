// Generation with a static KV cache (the idea of transformers' StaticCache): the prompt runs once
// through the dynamic path (HfModel::decode, the same prefill as generate()), its keys and
// values are copied into preallocated [B, kv, S_max, hd] tensors, and every further token is one
// decode_static call on fixed-shape inputs that it updates in place, with the q/k/v and gate/up
// projections merged into one GEMM each (MergedProjections). With libtorch 2 on CUDA and
// graph-safe layers, that step is captured once as a CUDA graph and replayed
// (torch.compile's "reduce-overhead" mode does the same): ~700 kernel launches per token become
// one graph launch. Greedy steps also pick the token on the device, and the host checks for stop
// tokens only every kCheckEvery steps; sampling picks each token on the host from the step's logits.
#include "generation.hpp"
#include "hf_model.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/api/include/torch/version.h>

#if defined(QRUN_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define QRUN_CUDA_GRAPHS 1
#endif

#include <chrono>
#include <optional>
#include <cstdlib>
#include <string>

namespace qrun::hf {
namespace {

// Greedy steps between two host checks for stop tokens. Steps after every row stopped are
// wasted time, never wrong output: tokens after a row's stop are not recorded.
constexpr std::int64_t kCheckEvery = 16;
// Cache length rounded up to a multiple of this (aligned masks for the fused attention kernels).
constexpr std::int64_t kSlotAlign = 16;

// QRUN_CUDA_GRAPHS=0 turns graph replay off (same results; for timing its effect).
bool graphs_enabled_by_env() {
  const char* v = std::getenv("QRUN_CUDA_GRAPHS");
  return v == nullptr || std::string(v) != "0";
}

// The device tensors one step reads and updates in place.
struct StepState {
  at::Tensor ids;        // [B, 1] int64: the token fed in this step
  at::Tensor positions;  // [B, 1] int64: its position
  at::Tensor key_mask;   // [B, S_max] bool: slots holding real tokens
  KvCache cache;         // static; cache.slot [1] int64: where this step's keys go
  at::Tensor tokens;     // [B, steps] int64: greedy tokens (greedy only)
  at::Tensor step;       // [1] int64: the next column of `tokens` (greedy only)
};

}  // namespace

Result<std::vector<Generation>> HfModel::generate_static(const std::vector<std::vector<std::int64_t>>& prompts,
                                                         const GenerationConfig& g, bool allow_graph) {
  if (prompts.empty()) return std::vector<Generation>{};
  QRUN_TRY(check_prompts(prompts, g, config_.vocab_size));
  if (g.max_new_tokens == 0) return std::vector<Generation>(prompts.size());
  const std::vector<std::int64_t>& stops = g.stop_token_ids.empty() ? config_.eos_token_ids : g.stop_token_ids;

  c10::InferenceMode guard;
  PackedPrompts packed = pack_prompts(prompts, device_);
  const auto b = packed.ids.size(0), t = packed.ids.size(1);
  at::Generator gen = at::detail::createCPUGenerator(g.seed);
  RowRecorder rec(prompts.size(), stops);
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto lap = [&] {
    const auto now = clock::now();
    const double s = std::chrono::duration<double>(now - start).count();
    start = now;
    return s;
  };

  // Prefill: the dynamic path, then the first token.
  KvCache prefill_cache;
  at::Tensor hidden = decode(packed.ids, packed.positions, packed.mask, &prefill_cache);
  at::Tensor first = choose(logits_from_hidden(hidden.select(1, t - 1)), g, gen);
  rec.add_prefill_seconds(lap());
  if (rec.add(first.data_ptr<std::int64_t>()) || g.max_new_tokens == 1) return rec.take();

  const std::int64_t steps = g.max_new_tokens - 1;  // forwards still to run
  const std::int64_t s_max = (t + steps + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  StepState st;
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const at::Tensor& k = prefill_cache.k[l];
    at::Tensor kc = at::zeros({b, k.size(1), s_max, k.size(3)}, k.options());
    at::Tensor vc = at::zeros_like(kc);
    kc.slice(2, 0, t).copy_(k);
    vc.slice(2, 0, t).copy_(prefill_cache.v[l]);
    st.cache.k.push_back(kc);
    st.cache.v.push_back(vc);
  }
  prefill_cache = KvCache{};
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device_);
  st.cache.slot = at::full({1}, t, long_opts);
  st.key_mask = at::zeros({b, s_max}, long_opts.dtype(at::kBool));
  st.key_mask.slice(1, 0, t).copy_(packed.mask.to(at::kBool));
  st.positions = packed.positions.select(1, t - 1).unsqueeze(1) + 1;
  st.ids = first.to(device_).view({b, 1});
  const MergedProjections merged = merge_projections();
  const bool greedy = !g.do_sample;
  if (greedy) {
    st.tokens = at::zeros({b, steps}, long_opts);
    st.step = at::zeros({1}, long_opts);
  }

  // One step: mark this token's slot, run the decoder on it, take the logits [B, V] float32;
  // greedy: argmax, fed back and recorded on the device. Then advance slot and position.
  auto step = [&]() -> at::Tensor {
    st.key_mask.index_fill_(1, st.cache.slot, true);
    at::Tensor h = decode_static(st.ids, st.positions, st.key_mask, st.cache, &merged);
    at::Tensor logits = logits_from_hidden(h.select(1, 0));
    if (greedy) {
      at::Tensor next = logits.argmax(-1, /*keepdim=*/true);
      st.ids.copy_(next);
      st.tokens.index_copy_(1, st.step, next);
      st.step.add_(1);
    }
    st.cache.slot.add_(1);
    st.positions.add_(1);
    return logits;
  };

  // The step as the loops below run it: eagerly, or (CUDA, libtorch 2) the first call eagerly on
  // a side stream as the warm-up that initialises cuBLAS and the allocator (graphs cannot capture
  // the legacy default stream), then one capture, then replays. Returns that step's logits (a
  // replay's are the graph's output buffer, valid until the next replay).
  bool use_graph = false;
#ifdef QRUN_CUDA_GRAPHS
  use_graph = allow_graph && device_.is_cuda() && graph_safe(b) && graphs_enabled_by_env() && steps > 1;
  std::optional<c10::cuda::CUDAStream> stream;
  std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
  std::optional<at::cuda::CUDAGraph> graph;
  at::Tensor graph_logits;
  if (use_graph) {
    c10::cuda::device_synchronize();
    stream = c10::cuda::getStreamFromPool(false, device_.index());
    stream_guard.emplace(*stream);
  }
#endif
  auto run_step = [&]() -> at::Tensor {
#ifdef QRUN_CUDA_GRAPHS
    if (use_graph) {
      if (graph) {
        graph->replay();
        return graph_logits;
      }
      at::Tensor logits = step();
      stream->synchronize();
      graph.emplace();
      graph->capture_begin();
      graph_logits = step();
      graph->capture_end();
      return logits;
    }
#endif
    return step();
  };

  if (!greedy) {
    for (std::int64_t s = 0; s < steps; ++s) {
      at::Tensor next = choose(run_step(), g, gen);
      rec.add_decode_seconds(lap());
      if (rec.add(next.data_ptr<std::int64_t>())) break;
      st.ids.copy_(next.view({b, 1}));
    }
    return rec.take();
  }

  // Greedy: tokens stay on the device; the host reads them every kCheckEvery steps.
  std::int64_t ran = 0, checked = 0;
  auto check = [&]() -> bool {
    at::Tensor host = st.tokens.slice(1, checked, ran).to(at::kCPU).t().contiguous();  // [n, B]; synchronises
    rec.add_decode_seconds(lap());
    const std::int64_t n = ran - checked;
    checked = ran;
    for (std::int64_t j = 0; j < n; ++j)
      if (rec.add(host[j].data_ptr<std::int64_t>())) return true;
    return false;
  };
  bool finished = false;
  while (ran < steps && !finished) {
    run_step();
    ++ran;
    if (ran % kCheckEvery == 0) finished = check();
  }
  if (!rec.all_done() && checked < ran) check();
  return rec.take();
}

}  // namespace qrun::hf
