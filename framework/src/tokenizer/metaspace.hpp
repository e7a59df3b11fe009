// tokenizers' Metaspace (tokenizers/src/pre_tokenizers/metaspace.rs), which is both a
// pre-tokenizer and a decoder: spaces become `replacement` (U+2581 "▁"), which is prepended to
// each piece (prepend_scheme "always"), to the piece at the start of the input only ("first"),
// or never; with split, pieces are then cut before each replacement character.
#pragma once

#include "tokenizer/json_access.hpp"

#include <string>
#include <vector>

namespace qrun::tok {

struct Metaspace {
  enum class Prepend { always, first, never };
  std::string replacement;  // one character, UTF-8
  Prepend prepend = Prepend::always;
  bool split = true;

  // From a {"type": "Metaspace", ...} object, as tokenizers deserializes it: prepend_scheme
  // defaults to "always", split to true; the legacy add_prefix_space=false means "never" (and
  // contradicts any other declared scheme).
  static Result<Metaspace> from_json(const Json& value, const JsonWhere& where);

  // Pre-tokenizer: spaces replaced and the replacement prepended as the scheme says; the text
  // is then the one piece, or (split) cut before every replacement character.
  std::vector<std::string> pre_tokenize(const std::string& text, bool at_input_start) const;

  // Decoder: every replacement character becomes a space, except in the first token, where
  // they are dropped unless the scheme is "never".
  void decode(std::vector<std::string>& tokens) const;
};

}  // namespace qrun::tok
