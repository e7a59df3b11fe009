// TensorModel (tensor_model.hpp): linear layers only.
#include "model/tensor_model.hpp"

#include <ATen/ATen.h>

namespace qrun {
namespace {

Error no_forward(const std::string& what) {
  return Error::of(ErrorCode::unsupported, what, "a tensor file has no model to run",
                   "quantize a model folder (--model) for anything but the tensors themselves");
}

class TensorModel final : public Model {
 public:
  TensorModel(const std::vector<std::pair<std::string, at::Tensor>>& weights, const std::string& source_name) {
    source_.name = source_name;
    for (const auto& [name, w] : weights) {
      names_.push_back(name);
      layers_[name] = make_dense_linear(w, at::Tensor(), at::kFloat);
    }
  }

  const ModelConfig& config() const override { return config_; }
  const Tokenizer& tokenizer() const override { throw ErrorException(no_forward("tokenizer")); }
  const ModelSource& source() const override { return source_; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  DType compute_dtype() const override { return DType::f32; }
  DType storage_dtype() const override { return DType::f32; }

  std::vector<std::string> linear_names() const override { return names_; }
  LinearImpl& linear(const std::string& name) override { return *find(name); }
  const LinearImpl& linear(const std::string& name) const override { return *find(name); }
  Result<void> set_linear(const std::string& name, std::shared_ptr<LinearImpl> impl) override {
    const auto& old = find(name);
    if (!impl || impl->out_features() != old->out_features() || impl->in_features() != old->in_features())
      return Error::of(ErrorCode::internal, name, "the replacement layer has another shape",
                       "report this bug to the transform's author");
    layers_[name] = std::move(impl);
    return {};
  }
  NamedTensors other_tensors() override { return {}; }

  at::Tensor hidden_states(const at::Tensor&, const at::Tensor&) override {
    throw ErrorException(no_forward("forward pass"));
  }
  at::Tensor logits_from_hidden(const at::Tensor&) override { throw ErrorException(no_forward("forward pass")); }
  Result<std::vector<Generation>> generate(const std::vector<std::vector<std::int64_t>>&,
                                           const GenerationConfig&) override {
    return no_forward("generation");
  }
  Result<std::unique_ptr<Model>> clone() const override { return no_forward("clone"); }

 private:
  const std::shared_ptr<LinearImpl>& find(const std::string& name) const {
    auto it = layers_.find(name);
    if (it == layers_.end())
      throw ErrorException(Error::of(ErrorCode::not_found, name, "is not a tensor of this file", "use a listed name"));
    return it->second;
  }

  ModelConfig config_;
  ModelSource source_;
  std::vector<std::string> names_;
  std::map<std::string, std::shared_ptr<LinearImpl>> layers_;
};

}  // namespace

std::unique_ptr<Model> make_tensor_model(const std::vector<std::pair<std::string, at::Tensor>>& weights,
                                         const std::string& source_name) {
  return std::make_unique<TensorModel>(weights, source_name);
}

}  // namespace qrun
