// The BPE model of tokenizers (tokenizers/src/models/bpe/): vocabulary, ranked merges in "a b" or
// ["a", "b"] form, byte fallback, unk (fused or not), and a per-word cache.
#pragma once

#include "tokenizer/json_access.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qrun::tok {

class BpeModel {
 public:
  // From tokenizer.json's "model" object (type "BPE").
  static Result<BpeModel> from_json(const Json& model, const JsonWhere& where);


  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<std::int64_t>& out) const;

  std::optional<std::int64_t> token_to_id(std::string_view token) const;
  // nullptr when the id is not in the vocabulary.
  const std::string* id_to_token(std::int64_t id) const;
  // One past the largest id of the vocabulary.
  std::int64_t id_space() const { return static_cast<std::int64_t>(id_to_token_.size()); }
  // Number of vocabulary entries (tokenizers' get_vocab_size: where added-token ids start).
  std::int64_t vocab_count() const { return static_cast<std::int64_t>(vocab_.size()); }

 private:
  struct MergeTarget { std::int32_t rank; std::int32_t new_id; };
  static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<std::int64_t>& out) const;

  std::unordered_map<std::string, std::int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_known_;
  std::unordered_map<std::uint64_t, MergeTarget> merges_;
  std::optional<std::int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::int32_t byte_ids_[256] = {};  // <0xXX> ids for byte fallback (-1: absent)

  // Word -> ids, as tokenizers' BPE cache (bounded; cleared when full).
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::int64_t>> map;
  };
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();
};

}  // namespace qrun::tok
