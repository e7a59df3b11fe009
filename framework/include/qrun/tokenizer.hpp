// Tokenizer: text <-> ids, as Hugging Face `tokenizers` does it for the tokenizer.json files qrun
// supports (byte-level BPE as Qwen2 uses; SentencePiece-style BPE with byte fallback as Llama uses).
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant"
  std::string content;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // As tokenizers' `encode(text, add_special_tokens=...)`: added/special tokens written in the
  // text are matched as such; add_special_tokens adds what the post-processor adds (e.g. BOS).
  virtual std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens) const = 0;
  // As tokenizers' `decode(ids, skip_special_tokens=...)`.
  virtual std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const = 0;

  // Size of the id space (base vocabulary plus added tokens), which may be below the model's
  // embedding rows (Qwen2.5: 151665 ids, 151936 rows).
  virtual std::int64_t vocab_size() const = 0;
  virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::int64_t> bos_id() const = 0;
  virtual std::optional<std::int64_t> eos_id() const = 0;

  // True when tokenizer_config.json (or chat_template.jinja) carries a chat template.
  virtual bool has_chat_template() const = 0;
  // The model's Jinja chat template rendered as transformers' apply_chat_template(tokenize=False)
  // renders it. Error when there is none, when it uses a construct qrun's Jinja subset lacks (named
  // with its line), or when the template refuses the conversation (its raise_exception).
  virtual Result<std::string> apply_chat_template(const std::vector<ChatMessage>& messages,
                                                  bool add_generation_prompt) const = 0;
};

// Loads tokenizer.json (+ tokenizer_config.json when present) from a model folder.
// Unsupported tokenizer.json features are refused by name.
Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::filesystem::path& model_dir);

}  // namespace qrun
