// A differentiable decoder forward over float32 copies of a Model's weights (internal to the
// attack trainer, see qrun/attack/train.hpp for why it exists).
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace qrun::attack::detail {

class TrainForward {
 public:
  // Copies every weight of `model` (float32, detached, on the model's device). Refuses families
  // whose layout it does not compute (anything but Llama, Mistral, Qwen2).
  static Result<TrainForward> from(Model& model);

  // Logits [B, T, vocab] float32 of right-padded ids [B, T] (positions 0..T-1; padding only after
  // the real tokens, so causal attention never lets a real token see it).
  at::Tensor logits(const at::Tensor& ids) const;

  // name -> tensor: linear layers as "<layer>.weight" / "<layer>.bias", other tensors by their
  // checkpoint name. The tensors are the ones logits() reads: set requires_grad on them to train.
  std::map<std::string, at::Tensor>& params() { return p_; }
  const std::vector<std::string>& linear_names() const { return linears_; }

  // Writes the weights back: each linear layer becomes a dense layer of its (float32) weight,
  // other tensors are copied into the model's own storage.
  Result<void> write_back(Model& model) const;

 private:
  at::Tensor lin(const std::string& layer, const at::Tensor& x) const;
  at::Tensor rms(const at::Tensor& x, const std::string& weight) const;
  at::Tensor attention(std::int64_t l, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const;

  ModelConfig cfg_;
  std::map<std::string, at::Tensor> p_;
  std::vector<std::string> linears_;
  bool tied_ = false;
};

}  // namespace qrun::attack::detail
