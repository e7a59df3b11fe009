// AddedVocabulary as tokenizers implements it (tokenizers/src/tokenizer/added_vocabulary.rs:
// split_with_indices, extract_and_normalize).
#include "tokenizer/added_vocabulary.hpp"

#include "tokenizer/utf8.hpp"

#include <algorithm>

namespace qrun::tok {

Result<AddedVocabulary> AddedVocabulary::from_json(const Json* value, const JsonWhere& where,
                                                   const Normalizer& normalizer) {
  AddedVocabulary v;
  if (value == nullptr) return v;
  for (std::size_t i = 0; i < value->size(); ++i) {
    const Json& entry = (*value)[i];
    const JsonWhere ew = where.index(i);
    AddedToken t;
    auto id = member(entry, ew, "id", Json::value_t::number_integer);
    if (!id.ok()) return id.error();
    t.id = (*id)->get<std::int64_t>();
    if (t.id < 0) return ew.key("id").error("is negative", "restore the file from the original download");
    auto content = string_member(entry, ew, "content");
    if (!content.ok()) return content.error();
    t.content = *content;
    if (t.content.empty()) return ew.key("content").error("is empty", "restore the file from the original download");
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
    if (*single_word) {
      return ew.key("single_word").error("true is not supported", "use a tokenizer whose added tokens have single_word false");
    }
    const std::size_t index = v.tokens_.size();
    v.by_id_[t.id] = index;
    v.by_content_[t.content] = index;
    (t.normalized ? v.normalized_ : v.raw_)
        .patterns.emplace_back(t.normalized ? normalizer.apply(t.content) : t.content, index);
    v.tokens_.push_back(std::move(t));
  }
  v.raw_.build();
  v.normalized_.build();
  return v;
}

void AddedVocabulary::Matcher::build() {
  std::stable_sort(patterns.begin(), patterns.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (std::size_t k = 0; k < patterns.size(); ++k) {
    if (!patterns[k].first.empty()) by_first_byte[static_cast<unsigned char>(patterns[k].first[0])].push_back(k);
  }
}

void AddedVocabulary::split_with(const Matcher& matcher, std::string_view text, std::vector<TextPiece>& out) const {
  std::size_t previous = 0;  // end of the last emitted piece
  std::size_t pos = 0;       // where the search resumes
  while (pos < text.size()) {
    // Leftmost-longest: the first position where a pattern matches, the longest one there.
    const auto& candidates = matcher.by_first_byte[static_cast<unsigned char>(text[pos])];
    const std::pair<std::string, std::size_t>* hit = nullptr;
    for (std::size_t k : candidates) {
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
    if (token.lstrip) {  // swallow the whitespace before, but not past the previous piece
      std::size_t s = start;
      while (s > previous) {
        std::size_t b = s - 1;
        while (b > previous && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        std::size_t j = b;
        if (!is_white_space(next_code_point(text, j))) break;
        s = b;
      }
      start = s;
    }
    if (token.rstrip) {  // swallow the whitespace after
      std::size_t j = stop;
      while (j < text.size()) {
        std::size_t k = j;
        if (!is_white_space(next_code_point(text, k))) break;
        j = k;
      }
      stop = j;
    }
    if (start > previous) out.push_back({std::string(text.substr(previous, start - previous)), std::nullopt});
    out.push_back({std::string(text.substr(start, stop - start)), token.id});
    previous = stop;
    pos = stop;
  }
  if (previous < text.size()) out.push_back({std::string(text.substr(previous)), std::nullopt});
}

std::vector<TextPiece> AddedVocabulary::split_and_normalize(std::string_view text, const Normalizer& normalizer) const {
  // 1. Tokens that are not normalized, on the input text.
  std::vector<TextPiece> first;
  if (raw_.empty()) {
    if (!text.empty()) first.push_back({std::string(text), std::nullopt});
  } else {
    split_with(raw_, text, first);
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
    if (normalized_.empty()) out.push_back({std::move(normalized), std::nullopt});
    else split_with(normalized_, normalized, out);
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

}  // namespace qrun::tok
