// tokenizers' pre-tokenizers that qrun supports: Split (regex or string pattern, every split
// behaviour, invert), ByteLevel (add_prefix_space, use_regex) and Sequence.
#pragma once

#include "tokenizer/json_access.hpp"
#include "tokenizer/regex.hpp"

#include <memory>
#include <string>
#include <vector>

namespace qrun::tok {

class PreTokenizer {
 public:
  enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

  // From tokenizer.json's "pre_tokenizer" value (null: the whole text is one word).
  static Result<PreTokenizer> from_json(const Json& value, const JsonWhere& where);

  // Splits normalized text into words (byte-level characters when a ByteLevel step is present).
  // Empty words are dropped, as tokenizers does.
  std::vector<std::string> split(std::string text) const;

 private:
  struct Step {
    bool byte_level = false;
    std::shared_ptr<const Regex> regex;  // Split pattern, or ByteLevel's GPT-2 regex (use_regex)
    Behavior behavior = Behavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel
  };
  Result<void> add(const Json& value, const JsonWhere& where);
  static void apply_split(const Step& step, const std::string& piece, std::vector<std::string>& out);
  std::vector<Step> steps_;
};

}  // namespace qrun::tok
