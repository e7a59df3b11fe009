// AddedVocabulary as tokenizers implements it (tokenizers/src/tokenizer/added_vocabulary.rs:
// add_tokens, find_matches, extract_and_normalize; tokenizer/serialization.rs for the ids).
#include "tokenizer/added_vocabulary.hpp"

#include "tokenizer/utf8.hpp"

#include <algorithm>

namespace qrun::tok {
namespace {

// Rust's char::is_whitespace, walked back from `pos` but not past `floor` (lstrip).
std::size_t whitespace_start_before(std::string_view text, std::size_t pos, std::size_t floor) {
  while (pos > floor) {
    std::size_t b = pos - 1;
    while (b > floor && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
    std::size_t j = b;
    if (!is_white_space(next_code_point(text, j))) break;
    pos = b;
  }
  return pos;
}

// The end of the whitespace run starting at `pos` (rstrip).
std::size_t whitespace_end_after(std::string_view text, std::size_t pos) {
  while (pos < text.size()) {
    std::size_t k = pos;
    if (!is_white_space(next_code_point(text, k))) break;
    pos = k;
  }
  return pos;
}

// tokenizers' single_word test: no word character (regex \w) right before or right after.
bool is_single_word(std::string_view text, std::size_t start, std::size_t stop) {
  if (start > 0) {
    std::size_t b = start - 1;
    while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
    if (is_word_char(next_code_point(text, b))) return false;
  }
  if (stop < text.size()) {
    std::size_t k = stop;
    if (is_word_char(next_code_point(text, k))) return false;
  }
  return true;
}

}  // namespace

Result<AddedVocabulary> AddedVocabulary::from_json(const Json* value, const JsonWhere& where,
                                                   const Normalizer& normalizer, const BpeModel& model) {
  AddedVocabulary v;
  if (value == nullptr) return v;
  // tokenizers adds all tokens in one add_tokens call: new ids start at the vocabulary's size.
  std::int64_t next_id = model.vocab_count();
  for (std::size_t i = 0; i < value->size(); ++i) {
    const Json& entry = (*value)[i];
    const JsonWhere ew = where.index(i);
    AddedToken t;
    auto id = member(entry, ew, "id", Json::value_t::number_integer);
    if (!id.ok()) return id.error();
    if ((*id)->get<std::int64_t>() < 0) return ew.key("id").error("is negative", "restore the file from the original download");
    // Added tokens follow the vocabulary (tokenizers numbers them from its size on): an id far
    // beyond both would size the model's id space absurdly (issue 18: 2^31 and 1e6 were accepted).
    const std::int64_t id_bound = 2 * (model.vocab_count() + static_cast<std::int64_t>(value->size())) + 256;
    if ((*id)->get<std::int64_t>() >= id_bound)
      return ew.key("id").error("is " + std::to_string((*id)->get<std::int64_t>()) + ", far beyond the vocabulary's " +
                                    std::to_string(model.vocab_count()) + " entries and " +
                                    std::to_string(value->size()) + " added tokens (ids must be below " +
                                    std::to_string(id_bound) + ")",
                                "restore the file from the original download");
    auto content = string_member(entry, ew, "content");
    if (!content.ok()) return content.error();
    t.content = *content;
    auto special = bool_member(entry, ew, "special", false);
    if (!special.ok()) return special.error();
    // tokenizers' AddedToken default: normalized unless special.
    auto normalized = bool_member(entry, ew, "normalized", !*special);
    auto lstrip = bool_member(entry, ew, "lstrip", false);
    auto rstrip = bool_member(entry, ew, "rstrip", false);
    auto single_word = bool_member(entry, ew, "single_word", false);
    for (const auto* r : {&special, &normalized, &lstrip, &rstrip, &single_word}) {
      if (!r->ok()) return r->error();
    }
    t.special = *special;
    t.normalized = *normalized;
    t.lstrip = *lstrip;
    t.rstrip = *rstrip;
    t.single_word = *single_word;
    if (t.content.empty()) continue;  // tokenizers ignores empty added tokens
    QRUN_TRY(v.add(std::move(t), normalizer, model, next_id));
  }
  // The matchers hold the latest token of each id (tokenizers: added_tokens_map_r).
  for (const auto& [token_id, index] : v.by_id_) {
    const AddedToken& t = v.tokens_[index];
    (t.normalized ? v.normalized_ : v.raw_).patterns.emplace_back(t.pattern, index);
  }
  v.raw_.build();
  v.normalized_.build();
  return v;
}

Result<void> AddedVocabulary::add(AddedToken t, const Normalizer& normalizer, const BpeModel& model,
                                  std::int64_t& next_id) {
  t.pattern = t.normalized ? normalizer.apply(t.content) : t.content;
  if (const auto it = by_content_.find(t.content); it != by_content_.end()) {
    const AddedToken& same = tokens_[it->second];
    if (same.special == t.special && same.normalized == t.normalized && same.lstrip == t.lstrip &&
        same.rstrip == t.rstrip && same.single_word == t.single_word) {
      return {};  // listed twice with the same options: tokenizers ignores the repeat
    }
    t.id = same.id;
  } else if (auto in_vocab = model.token_to_id(t.content)) {
    t.id = *in_vocab;
  } else {
    t.id = next_id++;
  }
  if (t.special) special_contents_.insert(t.content);
  const std::size_t index = tokens_.size();
  by_id_[t.id] = index;
  by_content_[t.content] = index;
  tokens_.push_back(std::move(t));
  return {};
}

void AddedVocabulary::Matcher::build() {
  // Longest first, then by token index, so that the first hit at a position is the longest.
  std::sort(patterns.begin(), patterns.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.second < b.second;
  });
  for (std::size_t k = 0; k < patterns.size(); ++k) {
    if (!patterns[k].first.empty()) by_first_byte[static_cast<unsigned char>(patterns[k].first[0])].push_back(k);
  }
}

void AddedVocabulary::split_with(const Matcher& matcher, std::string_view text, bool text_at_start,
                                 std::vector<TextPiece>& out) const {
  std::size_t previous = 0;  // end of the last emitted piece
  std::size_t pos = 0;       // where the search resumes
  auto emit_text = [&](std::size_t begin, std::size_t end) {
    out.push_back({std::string(text.substr(begin, end - begin)), std::nullopt, text_at_start && begin == 0});
  };
  while (pos < text.size()) {
    // Leftmost-longest: the first position where a pattern matches, the longest one there.
    const std::pair<std::string, std::size_t>* hit = nullptr;
    for (std::size_t k : matcher.by_first_byte[static_cast<unsigned char>(text[pos])]) {
      const auto& p = matcher.patterns[k];
      if (text.compare(pos, p.first.size(), p.first) == 0) {
        hit = &p;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[hit->second];
    std::size_t start = pos, stop = pos + hit->first.size();
    if (token.single_word && !is_single_word(text, start, stop)) {
      pos = stop;  // the match is consumed without a split (tokenizers' leftmost_find_iter moves on)
      continue;
    }
    if (token.lstrip) start = whitespace_start_before(text, start, previous);
    if (token.rstrip) stop = whitespace_end_after(text, stop);
    if (start > previous) emit_text(previous, start);
    out.push_back({std::string(text.substr(start, stop - start)), token.id, false});
    previous = stop;
    pos = stop;
  }
  if (previous < text.size()) emit_text(previous, text.size());
}

std::vector<TextPiece> AddedVocabulary::split_and_normalize(std::string_view text, const Normalizer& normalizer) const {
  // 1. Tokens that are not normalized, on the input text.
  std::vector<TextPiece> first;
  if (raw_.empty()) {
    if (!text.empty()) first.push_back({std::string(text), std::nullopt, true});
  } else {
    split_with(raw_, text, true, first);
  }
  // 2. Normalize what is left, then split it on the normalized tokens.
  std::vector<TextPiece> out;
  out.reserve(first.size());
  for (TextPiece& piece : first) {
    if (piece.id) {
      out.push_back(std::move(piece));
      continue;
    }
    std::string normalized = normalizer.apply(std::move(piece.text));
    if (normalized.empty()) continue;
    if (normalized_.empty()) out.push_back({std::move(normalized), std::nullopt, piece.at_input_start});
    else split_with(normalized_, normalized, piece.at_input_start, out);
  }
  return out;
}

const AddedToken* AddedVocabulary::find_by_id(std::int64_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find_by_content(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

bool AddedVocabulary::is_special_content(std::string_view text) const {
  return special_contents_.count(std::string(text)) > 0;
}

}  // namespace qrun::tok
