// tokenizers' decoders that qrun supports: ByteLevel, Replace (string pattern), ByteFallback,
// Fuse, Strip, Metaspace and Sequence. They turn the token strings of some ids into text.
#pragma once

#include "tokenizer/json_access.hpp"
#include "tokenizer/metaspace.hpp"

#include <string>
#include <vector>

namespace qrun::tok {

class Decoder {
 public:
  enum class Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace };
  struct Step {
    Kind kind;
    std::string pattern, content;  // replace; strip: content is the stripped character
    std::size_t start = 0, stop = 0;  // strip
    Metaspace metaspace;              // metaspace
  };

  // From tokenizer.json's "decoder" value (null: tokens joined with spaces, as tokenizers does).
  static Result<Decoder> from_json(const Json& value, const JsonWhere& where);

  std::string decode(std::vector<std::string> tokens) const;

 private:
  Result<void> add(const Json& value, const JsonWhere& where);
  bool present_ = false;
  std::vector<Step> steps_;
};

}  // namespace qrun::tok
