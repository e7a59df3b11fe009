// tokenizers' normalizers that qrun supports: NFC/NFD/NFKC/NFKD (via ICU), Prepend, Replace
// (string pattern), Lowercase and Sequence. Applied to each piece of text between added tokens.
#pragma once

#include "tokenizer/json_access.hpp"

#include <string>
#include <vector>

namespace qrun::tok {

class Normalizer {
 public:
  enum class Kind { nfc, nfd, nfkc, nfkd, prepend, replace, lowercase };
  struct Step {
    Kind kind;
    std::string a;  // prepend: the text; replace: the pattern
    std::string b;  // replace: the replacement
  };

  // From tokenizer.json's "normalizer" value (null: no normalization).
  static Result<Normalizer> from_json(const Json& value, const JsonWhere& where);

  bool empty() const { return steps_.empty(); }
  std::string apply(std::string text) const;

 private:
  Result<void> add(const Json& value, const JsonWhere& where);
  std::vector<Step> steps_;
};

}  // namespace qrun::tok
