// tokenizers' post-processors that qrun supports for single sequences: TemplateProcessing
// (e.g. BOS), ByteLevel (changes only offsets, so nothing here) and Sequence.
#pragma once

#include "tokenizer/json_access.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace qrun::tok {

class PostProcessor {
 public:
  // From tokenizer.json's "post_processor" value (null: none).
  static Result<PostProcessor> from_json(const Json& value, const JsonWhere& where);

  // "[bos] $A [eos]" with either end optional: what transformers' TokenizersBackend
  // (update_post_processor) installs when tokenizer_config.json sets add_bos_token/add_eos_token.
  static PostProcessor bos_eos(std::optional<std::int64_t> bos, std::optional<std::int64_t> eos);

  // What encode(add_special_tokens=true) adds around one sequence.
  std::vector<std::int64_t> apply(std::vector<std::int64_t> ids) const;

 private:
  // One item of a TemplateProcessing "single" template: special-token ids, or the sequence.
  struct Item {
    bool is_sequence = false;
    std::vector<std::int64_t> ids;
  };
  Result<void> add(const Json& value, const JsonWhere& where);
  std::vector<std::vector<Item>> templates_;  // applied in order (Sequence)
};

}  // namespace qrun::tok
