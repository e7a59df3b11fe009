// Added tokens (tokenizer.json "added_tokens"), matched in the text before the model runs, as
// tokenizers' AddedVocabulary does: leftmost-longest, tokens with normalized=false on the raw
// text first, then tokens with normalized=true on each normalized remaining piece; lstrip/rstrip
// swallow the whitespace around a match; a single_word token matches only between non-word
// characters.
#pragma once

#include "tokenizer/bpe.hpp"
#include "tokenizer/json_access.hpp"
#include "tokenizer/normalizer.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace qrun::tok {

struct AddedToken {
  std::int64_t id = 0;
  std::string content;
  std::string pattern;  // what is matched and what decode() writes: content, normalized when normalized=true
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A piece of text: either an added token (id set) or text still to be pre-tokenized.
struct TextPiece {
  std::string text;
  std::optional<std::int64_t> id;
  bool at_input_start = false;  // begins at byte 0 of the input (Metaspace prepend_scheme "first")
};

class AddedVocabulary {
 public:
  // From tokenizer.json's "added_tokens" array (null/absent: none). Ids are assigned as tokenizers
  // assigns them (the JSON "id" is not used): the vocabulary's id when the content is a vocabulary
  // token, else the next id from the vocabulary size on. The normalizer turns the patterns of
  // normalized=true tokens into the form they take in normalized text.
  static Result<AddedVocabulary> from_json(const Json* value, const JsonWhere& where, const Normalizer& normalizer,
                                           const BpeModel& model);

  // Splits `text` on added tokens and normalizes the pieces in between (empty pieces dropped).
  std::vector<TextPiece> split_and_normalize(std::string_view text, const Normalizer& normalizer) const;

  const AddedToken* find_by_id(std::int64_t id) const;
  const AddedToken* find_by_content(std::string_view content) const;
  // True when `text` is the content of a special added token (what decode() skips).
  bool is_special_content(std::string_view text) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Leftmost-longest matcher over one set of patterns.
  struct Matcher {
    std::vector<std::pair<std::string, std::size_t>> patterns;  // (pattern, token index), longest first
    std::vector<std::vector<std::size_t>> by_first_byte = std::vector<std::vector<std::size_t>>(256);
    void build();
    bool empty() const { return patterns.empty(); }
  };
  void split_with(const Matcher& matcher, std::string_view text, bool text_at_start, std::vector<TextPiece>& out) const;
  Result<void> add(AddedToken token, const Normalizer& normalizer, const BpeModel& model, std::int64_t& next_id);

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::int64_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> by_content_;
  std::unordered_set<std::string> special_contents_;  // contents ever added as special (tokenizers: special_tokens_set)
  Matcher raw_;         // normalized=false: matched on the input text
  Matcher normalized_;  // normalized=true: matched on normalized text
};

}  // namespace qrun::tok
