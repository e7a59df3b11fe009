// tokenizers' pre-tokenizers that qrun supports: Split (regex or string pattern, every split
// behaviour, invert), ByteLevel (add_prefix_space, use_regex), Metaspace (replacement,
// prepend_scheme always/first/never, split) and Sequence.
#pragma once

#include "tokenizer/json_access.hpp"
#include "tokenizer/metaspace.hpp"
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
  // Empty words are dropped, as tokenizers does. `at_input_start`: the text begins at byte 0 of
  // the input (not after an added token), which Metaspace's prepend_scheme "first" asks.
  std::vector<std::string> split(std::string text, bool at_input_start) const;

 private:
  enum class Kind { split, byte_level, metaspace };
  struct Step {
    Kind kind = Kind::split;
    std::shared_ptr<const Regex> regex;  // Split pattern, or ByteLevel's GPT-2 regex (use_regex)
    Behavior behavior = Behavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel
    Metaspace metaspace;            // Metaspace
  };
  struct Piece {
    std::string text;
    bool at_input_start;  // begins at byte 0 of the input
  };
  Result<void> add(const Json& value, const JsonWhere& where);
  static void apply_split(const Step& step, const Piece& piece, std::vector<Piece>& out);
  static void apply_byte_level(const Step& step, Piece piece, std::vector<Piece>& out);
  std::vector<Step> steps_;
};

}  // namespace qrun::tok
