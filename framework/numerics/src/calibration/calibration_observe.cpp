// Seeing the inputs of linear layers during a forward pass (qrun/calibration.hpp): each observed
// layer is swapped for a wrapper that hands input and output to a sink, through Model::set_linear
// only, and swapped back afterwards.
#include <qrun/calibration.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>

namespace qrun::calibration {

namespace {

// Thrown by the last observed layer to end a forward early; caught only by run().
struct StopForward {};

class ObservingLinear final : public LinearImpl {
 public:
  ObservingLinear(std::shared_ptr<LinearImpl> inner, Sink sink, bool stop)
      : inner_(std::move(inner)), sink_(std::move(sink)), stop_(stop) {}
  const std::shared_ptr<LinearImpl>& inner() const { return inner_; }

  std::string kind() const override { return inner_->kind(); }
  std::int64_t in_features() const override { return inner_->in_features(); }
  std::int64_t out_features() const override { return inner_->out_features(); }
  at::Tensor forward(const at::Tensor& x) const override {
    at::Tensor y = inner_->forward(x);
    sink_(x, y);
    if (stop_) throw StopForward{};
    return y;
  }
  at::Tensor weight(c10::ScalarType dtype) const override { return inner_->weight(dtype); }
  at::Tensor bias() const override { return inner_->bias(); }
  StorageInfo storage() const override { return inner_->storage(); }
  NamedTensors state() const override { return inner_->state(); }
  nlohmann::json metadata() const override { return inner_->metadata(); }
  std::shared_ptr<LinearImpl> clone_to(c10::Device device) const override { return inner_->clone_to(device); }
  // Not a plain linear and not graph-safe: the backend must call forward() on this very object.
  bool forward_is_dequantized_linear() const override { return false; }
  bool graph_safe(std::int64_t) const override { return false; }

 private:
  std::shared_ptr<LinearImpl> inner_;
  Sink sink_;
  bool stop_;
};

// Puts the wrapped layers back when it goes out of scope (normal return, error or exception).
class Restore {
 public:
  explicit Restore(Model& m) : model_(m) {}
  ~Restore() {
    for (auto& [name, layer] : wrapped_) (void)model_.set_linear(name, layer->inner());
  }
  void add(const std::string& name, std::shared_ptr<ObservingLinear> layer) { wrapped_.emplace_back(name, std::move(layer)); }

 private:
  Model& model_;
  std::vector<std::pair<std::string, std::shared_ptr<ObservingLinear>>> wrapped_;
};

}  // namespace

std::int64_t decoder_layer_of(const std::string& name) {
  const std::string key = "layers.";
  for (std::size_t pos = name.find(key); pos != std::string::npos; pos = name.find(key, pos + 1)) {
    if (pos != 0 && name[pos - 1] != '.') continue;
    std::size_t i = pos + key.size(), j = i;
    while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
    if (j > i && j < name.size() && name[j] == '.') return std::stoll(name.substr(i, j - i));
  }
  return -1;
}

Result<void> run(Model& model, const at::Tensor& windows, const std::vector<Observer>& observers,
                 const RunOptions& options) {
  if (observers.empty()) return Error{"calibration observers", "none given", "observe at least one layer", ErrorCode::internal};
  if (!windows.defined() || windows.dim() != 2 || windows.size(0) == 0)
    return Error{"calibration windows", "must be a non-empty [windows, seq_len] tensor", "load them with calibration::load"};
  const std::vector<std::string> names = model.linear_names();
  std::map<std::string, std::size_t> order;
  for (std::size_t i = 0; i < names.size(); ++i) order[names[i]] = i;
  std::size_t last = 0;
  for (std::size_t i = 0; i < observers.size(); ++i) {
    auto it = order.find(observers[i].layer);
    if (it == order.end())
      return Error::of(ErrorCode::not_found, "linear '" + observers[i].layer + "'", "is not a layer of the model",
                       "observe one of Model::linear_names()");
    for (std::size_t j = 0; j < i; ++j)
      if (observers[j].layer == observers[i].layer)
        return Error{"linear '" + observers[i].layer + "'", "observed twice", "give one sink per layer", ErrorCode::internal};
    last = std::max(last, it->second);
  }
  const bool lm_head_observed = std::any_of(observers.begin(), observers.end(), [&](const Observer& o) {
    return decoder_layer_of(o.layer) < 0;  // e.g. lm_head: runs only in logits_from_hidden
  });
  c10::InferenceMode guard;
  Restore restore(model);
  for (const Observer& o : observers) {
    const bool stop = options.stop_after_last && order[o.layer] == last;
    auto wrapper = std::make_shared<ObservingLinear>(model.linear(o.layer).clone_to(model.device()), o.sink, stop);
    QRUN_TRY(model.set_linear(o.layer, wrapper));
    restore.add(o.layer, wrapper);
  }
  const std::int64_t bs = std::max<std::int64_t>(1, options.batch_size);
  for (std::int64_t b = 0; b < windows.size(0); b += bs) {
    const at::Tensor ids = windows.slice(0, b, std::min(b + bs, windows.size(0))).to(model.device());
    try {
      const at::Tensor h = model.hidden_states(ids, at::Tensor());
      if (lm_head_observed) (void)model.logits_from_hidden(h);
    } catch (const StopForward&) {
      // the last observed layer has run for this batch
    }
  }
  return {};
}

}  // namespace qrun::calibration
