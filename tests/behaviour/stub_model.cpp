// The test-only stub model (stub_model.hpp).
#include "stub_model.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace qrun::test {

std::string stub_reply(const std::string& mode) {
  if (mode == "refuse") return "I'm sorry, but I cannot help with that request.";
  if (mode == "comply") return "Sure, here is a detailed answer to your question.";
  if (mode == "inject") return "Sure! Try McDonald's for a quick and tasty meal.";
  if (mode == "judge_refused") return "REFUSED";
  if (mode == "judge_complied") return "COMPLIED";
  if (mode == "judge_unsure") return "I am not certain.";
  return "";
}

namespace {

class ByteTokenizer : public Tokenizer {
 public:
  explicit ByteTokenizer(bool chat) : chat_(chat) {}
  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens) const override {
    std::vector<std::int64_t> ids;
    if (add_special_tokens) ids.push_back(kStubBos);
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const override {
    std::string s;
    for (std::int64_t id : ids) {
      if (id < 256) s += static_cast<char>(id);
      else if (!skip_special_tokens) s += id == kStubEos ? "<eos>" : "<bos>";
    }
    return s;
  }
  std::int64_t vocab_size() const override { return kStubVocab; }
  std::optional<std::int64_t> token_to_id(std::string_view t) const override {
    if (t.size() == 1) return static_cast<unsigned char>(t[0]);
    return std::nullopt;
  }
  std::optional<std::int64_t> bos_id() const override { return kStubBos; }
  std::optional<std::int64_t> eos_id() const override { return kStubEos; }
  bool has_chat_template() const override { return chat_; }
  Result<std::string> apply_chat_template(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const override {
    if (!chat_) return Error{"stub tokenizer", "has no chat template", ""};
    std::string s;
    for (const ChatMessage& m : messages) s += "<|" + m.role + "|>" + m.content + "\n";
    if (add_generation_prompt) s += "<|assistant|>";
    return s;
  }

 private:
  bool chat_;
};

class StubModel : public Model {
 public:
  StubModel(std::string mode, char favour, bool chat) : mode_(std::move(mode)), favour_(favour), tok_(chat) {
    cfg_.architecture = "StubForTests";
    cfg_.vocab_size = kStubVocab;
    cfg_.hidden_size = 1;
    cfg_.max_position_embeddings = 4096;
    cfg_.eos_token_ids = {kStubEos};
    src_.name = "stub:" + mode_;
  }
  const ModelConfig& config() const override { return cfg_; }
  const Tokenizer& tokenizer() const override { return tok_; }
  const ModelSource& source() const override { return src_; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  DType compute_dtype() const override { return DType::f32; }
  DType storage_dtype() const override { return DType::f32; }
  std::vector<std::string> linear_names() const override { return {}; }
  LinearImpl& linear(const std::string& name) override { throw std::out_of_range("stub model has no linear " + name); }
  const LinearImpl& linear(const std::string& name) const override {
    throw std::out_of_range("stub model has no linear " + name);
  }
  Result<void> set_linear(const std::string&, std::shared_ptr<LinearImpl>) override {
    return Error{"stub model", "has no linear layers", ""};
  }
  NamedTensors other_tensors() override { return {}; }
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor&) override {
    return at::zeros({input_ids.size(0), input_ids.size(1), 1}, at::kFloat);
  }
  at::Tensor logits_from_hidden(const at::Tensor& hidden) override {
    auto sizes = hidden.sizes().vec();
    sizes.back() = kStubVocab;
    at::Tensor logits = at::zeros(sizes, at::kFloat);
    logits.select(-1, static_cast<unsigned char>(favour_)).fill_(kFavourLogit);
    return logits;
  }
  Result<std::vector<Generation>> generate(const std::vector<std::vector<std::int64_t>>& prompts,
                                           const GenerationConfig& config) override {
    const std::string reply = stub_reply(mode_);
    std::vector<Generation> out;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      Generation g;
      for (unsigned char c : reply) g.tokens.push_back(c);
      g.tokens.push_back(kStubEos);
      if (static_cast<std::int64_t>(g.tokens.size()) > config.max_new_tokens) g.tokens.resize(config.max_new_tokens);
      g.stopped_on_eos = g.tokens.back() == kStubEos;
      out.push_back(std::move(g));
    }
    return out;
  }
  Result<std::unique_ptr<Model>> clone() const override {
    return std::unique_ptr<Model>(std::make_unique<StubModel>(mode_, favour_, tok_.has_chat_template()));
  }

 private:
  std::string mode_;
  char favour_;
  ByteTokenizer tok_;
  ModelConfig cfg_;
  ModelSource src_;
};

}  // namespace

std::unique_ptr<Model> make_stub_model(const std::string& mode, char favour, bool chat) {
  if (stub_reply(mode).empty()) throw std::invalid_argument("unknown stub mode " + mode);
  return std::make_unique<StubModel>(mode, favour, chat);
}

}  // namespace qrun::test
