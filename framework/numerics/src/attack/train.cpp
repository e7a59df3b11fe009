// Supervised fine-tuning with AdamW and optional PGD into boxes (qrun/attack/train.hpp).
#include <qrun/attack/train.hpp>

#include "train_forward.hpp"

#include <qrun/context.hpp>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

namespace qrun::attack {
namespace {

using detail::TrainForward;

struct Param {
  std::string name;
  at::Tensor w;      // the trainer's tensor (requires_grad)
  at::Tensor m, v;   // AdamW moments, float32
  const LayerBox* box = nullptr;
};

Result<void> check_config(const TrainConfig& c, std::size_t examples, const std::string& label) {
  if (examples == 0) return Error{label, "has no training examples", "give at least one prompt"};
  if (c.steps < 1 || c.batch_size < 1 || c.grad_accum < 1)
    return Error{label, "steps, batch_size and grad_accum must be >= 1", "fix the training table"};
  if (!(c.lr > 0) || c.weight_decay < 0 || c.warmup_ratio < 0 || c.warmup_ratio > 1)
    return Error{label, "lr must be > 0, weight_decay >= 0 and warmup_ratio in [0, 1]", "fix the training table"};
  return {};
}

// One micro-batch: right-padded prompt + response ids and a mask of the scored positions (the
// logits at position t score token t + 1, counted when token t + 1 is a response token).
struct Batch {
  at::Tensor ids;     // [B, T] int64
  at::Tensor scored;  // [B, T - 1] float32, 1 where the next token is a response token
  std::int64_t tokens = 0;
};

Batch make_batch(const std::vector<Example>& data, const std::vector<std::size_t>& order, std::size_t start,
                 std::int64_t size, c10::Device device) {
  std::vector<const Example*> rows;
  for (std::int64_t i = 0; i < size; ++i) rows.push_back(&data[order[(start + static_cast<std::size_t>(i)) % order.size()]]);
  std::int64_t t = 0;
  for (const Example* e : rows) t = std::max<std::int64_t>(t, static_cast<std::int64_t>(e->prompt.size() + e->response.size()));
  Batch b;
  b.ids = at::zeros({size, t}, at::kLong);
  b.scored = at::zeros({size, std::max<std::int64_t>(t - 1, 1)}, at::kFloat);
  auto ids = b.ids.accessor<std::int64_t, 2>();
  auto sc = b.scored.accessor<float, 2>();
  for (std::int64_t r = 0; r < size; ++r) {
    const Example& e = *rows[static_cast<std::size_t>(r)];
    std::int64_t j = 0;
    for (auto id : e.prompt) ids[r][j++] = id;
    for (auto id : e.response) {
      if (j >= 1) sc[r][j - 1] = 1.0f, ++b.tokens;
      ids[r][j++] = id;
    }
  }
  b.ids = b.ids.to(device);
  b.scored = b.scored.to(device);
  return b;
}

// Sum of the scored tokens' NLL (float32 log_softmax of float32 logits).
at::Tensor batch_nll_sum(const TrainForward& f, const Batch& b) {
  const at::Tensor logits = f.logits(b.ids);
  const std::int64_t t = b.ids.size(1);
  if (t < 2) return at::zeros({}, logits.options());
  const at::Tensor lp = at::log_softmax(logits.narrow(1, 0, t - 1), -1);
  const at::Tensor target = b.ids.narrow(1, 1, t - 1).unsqueeze(-1);
  const at::Tensor nll = -lp.gather(-1, target).squeeze(-1);
  return (nll * b.scored).sum();
}

// The trainer's logits against the backend's on one unpadded example.
Result<double> parity(Model& model, const TrainForward& f, const Example& e, const std::string& label) {
  std::vector<std::int64_t> seq = e.prompt;
  seq.insert(seq.end(), e.response.begin(), e.response.end());
  const at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1}).to(model.device());
  at::Tensor backend = model.logits(ids).to(at::kCPU);
  at::Tensor mine;
  {
    c10::NoGradGuard no_grad;
    mine = f.logits(ids).to(at::kCPU);
  }
  const double diff = (backend - mine).abs().max().item<double>();
  const double scale = std::max(1.0, backend.abs().max().item<double>());
  if (!(diff <= 1e-4 * scale))
    return Error::of(ErrorCode::unsupported, label,
                     "the trainer's differentiable forward differs from the backend by " + std::to_string(diff) +
                         " in the logits (rope scaling, q/k norms or another layout it does not compute)",
                     "use a Llama / Mistral / Qwen2 model with the default rope");
  return diff;
}

// torch.optim.AdamW's update (decoupled decay, bias corrections), one parameter, in place.
void adamw_step(Param& p, const TrainConfig& c, double lr, std::int64_t step) {
  const at::Tensor g = p.w.grad();
  if (!g.defined()) return;
  p.w.mul_(1.0 - lr * c.weight_decay);
  p.m.mul_(c.beta1).add_(g, 1.0 - c.beta1);
  p.v.mul_(c.beta2).addcmul_(g, g, 1.0 - c.beta2);
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(step));
  const at::Tensor denom = (p.v.sqrt() / std::sqrt(bc2)).add_(c.eps);
  p.w.addcdiv_(p.m, denom, -lr / bc1);
  if (p.box != nullptr) p.w.copy_(at::min(at::max(p.w, p.box->lo), p.box->hi));  // PGD projection
}

Result<std::vector<Param>> select_params(TrainForward& f, const TrainConfig& c, const BoxMap* boxes, c10::Device dev,
                                         const std::string& label) {
  std::vector<Param> out;
  auto add = [&](const std::string& name, const LayerBox* box) {
    at::Tensor& w = f.params().at(name);
    w.requires_grad_(true);
    out.push_back(Param{name, w, at::zeros_like(w), at::zeros_like(w), box});
  };
  if (boxes != nullptr) {
    for (const auto& [layer, box] : *boxes) {
      if (!f.params().count(layer + ".weight"))
        return Error{label, "box for unknown linear layer " + layer, "report this as a bug", ErrorCode::internal};
      const at::Tensor& w = f.params().at(layer + ".weight");
      if (!box.lo.sizes().equals(w.sizes()) || !box.hi.sizes().equals(w.sizes()))
        return Error{label, "box of " + layer + " has another shape than its weight", "report this as a bug", ErrorCode::internal};
      add(layer + ".weight", &box);
    }
    // The boxes are moved next to the weights once (they are CPU tensors).
    for (Param& p : out) {
      auto* b = const_cast<LayerBox*>(p.box);
      b->lo = b->lo.to(dev, at::kFloat);
      b->hi = b->hi.to(dev, at::kFloat);
    }
    return out;
  }
  for (const std::string& layer : f.linear_names()) {
    add(layer + ".weight", nullptr);
    if (f.params().count(layer + ".bias")) add(layer + ".bias", nullptr);
  }
  for (auto& [name, _] : f.params()) {
    const bool is_linear = std::any_of(f.linear_names().begin(), f.linear_names().end(), [&](const std::string& l) {
      return name == l + ".weight" || name == l + ".bias";
    });
    if (is_linear) continue;
    const bool embed = name == "model.embed_tokens.weight";
    if ((embed && c.train_embeddings) || (!embed && c.train_norms)) add(name, nullptr);
  }
  return out;
}

}  // namespace

double scheduled_lr(const TrainConfig& c, std::int64_t step, std::int64_t total) {
  const auto warmup = static_cast<std::int64_t>(std::ceil(c.warmup_ratio * static_cast<double>(total)));
  if (step < warmup) return c.lr * static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  return c.lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

Result<TrainLog> train(Model& model, const std::vector<Example>& data, const TrainConfig& c, const BoxMap* boxes,
                       RunContext& ctx, const std::string& label) {
  QRUN_TRY(check_config(c, data.size(), label));
  if (model.storage_dtype() != DType::f32 || model.compute_dtype() != DType::f32)
    return Error{label, "trains float32 models only (this one stores " + std::string(to_string(model.storage_dtype())) +
                            ", computes " + std::string(to_string(model.compute_dtype())) + ")",
                 "load the model with dtype = \"float32\" (boxes are float32 sets; the paper trains in float32)"};
  const auto t0 = std::chrono::steady_clock::now();
  auto f = TrainForward::from(model);
  if (!f) return f.error().within(label + ":");
  TrainLog log;
  auto diff = parity(model, *f, data.front(), label);
  if (!diff) return diff.error();
  log.parity_max_abs_diff = *diff;

  std::map<std::string, at::Tensor> start;  // boxed weights before training (moved count)
  BoxMap local;                             // a copy whose tensors select_params may move
  if (boxes != nullptr) local = *boxes;
  auto params = select_params(*f, c, boxes != nullptr ? &local : nullptr, model.device(), label);
  if (!params) return params.error();
  for (const Param& p : *params) {
    log.trained_parameters += p.w.numel();
    if (p.box != nullptr) start[p.name] = p.w.detach().clone();
  }

  std::vector<std::size_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(c.seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::size_t cursor = 0;
  const std::int64_t batch = std::min<std::int64_t>(c.batch_size, static_cast<std::int64_t>(data.size()));
  auto progress = ctx.progress(label, c.steps);
  c10::AutoGradMode grad_on(true);
  for (std::int64_t step = 0; step < c.steps; ++step) {
    double step_loss = 0;
    for (std::int64_t a = 0; a < c.grad_accum; ++a) {
      if (cursor + static_cast<std::size_t>(batch) > order.size()) {  // a new epoch: reshuffle
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      const Batch b = make_batch(data, order, cursor, batch, model.device());
      cursor += static_cast<std::size_t>(batch);
      if (b.tokens == 0) continue;
      // Mean over the micro-batch's response tokens, averaged over the accumulation steps
      // (transformers' Trainer with a mean-reduced loss).
      const at::Tensor loss = batch_nll_sum(*f, b) / static_cast<double>(b.tokens) / static_cast<double>(c.grad_accum);
      loss.backward();
      step_loss += loss.item<double>();
    }
    {
      c10::NoGradGuard no_grad;
      const double lr = scheduled_lr(c, step, c.steps);
      for (Param& p : *params) {
        adamw_step(p, c, lr, step + 1);
        if (p.w.grad().defined()) p.w.mutable_grad().zero_();
      }
    }
    log.loss.push_back(step_loss);
    progress->advance(1);
  }

  c10::NoGradGuard no_grad;
  for (Param& p : *params) {
    p.w.requires_grad_(false);
    if (p.box == nullptr) continue;
    const at::Tensor w = p.w.detach();
    log.boxed += w.numel();
    log.moved += at::ne(w, start[p.name]).sum().item<std::int64_t>();
    log.frozen += at::eq(p.box->lo, p.box->hi).sum().item<std::int64_t>();
    log.box_violations += at::logical_or(at::lt(w, p.box->lo), at::gt(w, p.box->hi)).sum().item<std::int64_t>();
  }
  QRUN_TRY(f->write_back(model));
  log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return log;
}

}  // namespace qrun::attack
