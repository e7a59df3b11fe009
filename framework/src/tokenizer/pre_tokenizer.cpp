// Pre-tokenizers as tokenizers (tokenizers/src/pre_tokenizers/{split,byte_level,metaspace,sequence}.rs)
// and NormalizedString::split (tokenizers/src/tokenizer/normalizer.rs) define them.
#include "tokenizer/pre_tokenizer.hpp"

#include "tokenizer/byte_level.hpp"

#include <utility>

namespace qrun::tok {
namespace {

// GPT-2's pattern, used by ByteLevel when use_regex is true (tokenizers pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr const char* kSupported = "Split, ByteLevel, Metaspace, Sequence";

Result<PreTokenizer::Behavior> parse_behavior(const std::string& s, const JsonWhere& where) {
  if (s == "Removed") return PreTokenizer::Behavior::removed;
  if (s == "Isolated") return PreTokenizer::Behavior::isolated;
  if (s == "MergedWithPrevious") return PreTokenizer::Behavior::merged_with_previous;
  if (s == "MergedWithNext") return PreTokenizer::Behavior::merged_with_next;
  if (s == "Contiguous") return PreTokenizer::Behavior::contiguous;
  return unsupported(where, s, "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

}  // namespace

Result<PreTokenizer> PreTokenizer::from_json(const Json& value, const JsonWhere& where) {
  PreTokenizer p;
  if (value.is_null()) return p;
  QRUN_TRY(p.add(value, where));
  return p;
}

Result<void> PreTokenizer::add(const Json& value, const JsonWhere& where) {
  auto type = string_member(value, where, "type");
  if (!type.ok()) return type.error();
  const std::string& t = *type;
  if (t == "Sequence") {
    auto list = member(value, where, "pretokenizers", Json::value_t::array);
    if (!list.ok()) return list.error();
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      QRUN_TRY(add((**list)[i], where.key("pretokenizers").index(i)));
    }
    return {};
  }
  Step step;
  if (t == "Metaspace") {
    auto m = Metaspace::from_json(value, where);
    if (!m.ok()) return m.error();
    step.kind = Kind::metaspace;
    step.metaspace = std::move(*m);
  } else if (t == "Split") {
    auto pattern = member(value, where, "pattern", Json::value_t::object);
    if (!pattern.ok()) return pattern.error();
    const JsonWhere pw = where.key("pattern");
    const bool literal = (*pattern)->contains("String");
    if (!literal && !(*pattern)->contains("Regex")) {
      return unsupported(pw, (*pattern)->empty() ? "?" : (*pattern)->begin().key(), "Regex, String");
    }
    auto source = string_member(**pattern, pw, literal ? "String" : "Regex");
    if (!source.ok()) return source.error();
    auto regex = Regex::compile(*source, literal);
    if (!regex.ok()) return pw.error(regex.error().reason, regex.error().fix, regex.error().code);
    step.regex = *regex;
    auto behavior = string_member(value, where, "behavior");
    if (!behavior.ok()) return behavior.error();
    auto b = parse_behavior(*behavior, where.key("behavior"));
    if (!b.ok()) return b.error();
    step.behavior = *b;
    auto invert = bool_member(value, where, "invert", false);
    if (!invert.ok()) return invert.error();
    step.invert = *invert;
  } else if (t == "ByteLevel") {
    step.kind = Kind::byte_level;
    auto prefix = bool_member(value, where, "add_prefix_space", true);
    auto use_regex = bool_member(value, where, "use_regex", true);
    if (!prefix.ok()) return prefix.error();
    if (!use_regex.ok()) return use_regex.error();
    step.add_prefix_space = *prefix;
    if (*use_regex) {
      auto regex = Regex::compile(kGpt2Pattern, false);
      if (!regex.ok()) return regex.error();
      step.regex = *regex;
    }
  } else {
    return unsupported(where.key("type"), t, kSupported);
  }
  steps_.push_back(std::move(step));
  return {};
}

void PreTokenizer::apply_split(const Step& step, const Piece& piece, std::vector<Piece>& out) {
  // (begin, end, is_match) covering the piece, as tokenizers' Pattern::find_matches.
  struct Part { std::size_t begin, end; bool match; };
  std::vector<Part> parts;
  std::size_t prev = 0;
  const std::string& text = piece.text;
  for (const auto& [b, e] : step.regex->find_all(text)) {
    if (prev != b) parts.push_back({prev, b, false});
    parts.push_back({b, e, true});
    prev = e;
  }
  if (prev != text.size()) parts.push_back({prev, text.size(), false});
  if (step.invert) for (Part& p : parts) p.match = !p.match;

  // Regroup by behaviour (tokenizers NormalizedString::split).
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  switch (step.behavior) {
    case Behavior::isolated:
      for (const Part& p : parts) spans.emplace_back(p.begin, p.end);
      break;
    case Behavior::removed:
      for (const Part& p : parts) if (!p.match) spans.emplace_back(p.begin, p.end);
      break;
    case Behavior::contiguous: {
      bool prev_match = false;
      for (const Part& p : parts) {
        if (p.match == prev_match && !spans.empty()) spans.back().second = p.end;
        else spans.emplace_back(p.begin, p.end);
        prev_match = p.match;
      }
      break;
    }
    case Behavior::merged_with_previous: {
      bool prev_match = false;
      for (const Part& p : parts) {
        if (p.match && !prev_match && !spans.empty()) spans.back().second = p.end;
        else spans.emplace_back(p.begin, p.end);
        prev_match = p.match;
      }
      break;
    }
    case Behavior::merged_with_next: {
      bool prev_match = false;
      std::vector<std::pair<std::size_t, std::size_t>> rev;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !prev_match && !rev.empty()) rev.back().first = it->begin;
        else rev.emplace_back(it->begin, it->end);
        prev_match = it->match;
      }
      spans.assign(rev.rbegin(), rev.rend());
      break;
    }
  }
  for (const auto& [b, e] : spans) {
    if (e > b) out.push_back({text.substr(b, e - b), piece.at_input_start && b == 0});
  }
}

void PreTokenizer::apply_byte_level(const Step& step, Piece piece, std::vector<Piece>& out) {
  if (step.add_prefix_space && piece.text.front() != ' ') piece.text.insert(piece.text.begin(), ' ');
  std::vector<Piece> words;
  if (step.regex) apply_split(step, piece, words);
  else words.push_back(std::move(piece));
  for (Piece& w : words) {
    std::string mapped;
    mapped.reserve(w.text.size() * 2);
    byte_level_encode_append(w.text, mapped);
    out.push_back({std::move(mapped), w.at_input_start});
  }
}

std::vector<std::string> PreTokenizer::split(std::string text, bool at_input_start) const {
  std::vector<Piece> pieces;
  if (!text.empty()) pieces.push_back({std::move(text), at_input_start});
  for (const Step& step : steps_) {
    std::vector<Piece> next;
    next.reserve(pieces.size());
    for (Piece& piece : pieces) {
      switch (step.kind) {
        case Kind::split: apply_split(step, piece, next); break;
        case Kind::byte_level: apply_byte_level(step, std::move(piece), next); break;
        case Kind::metaspace: {
          bool first = piece.at_input_start;
          for (std::string& w : step.metaspace.pre_tokenize(piece.text, piece.at_input_start)) {
            next.push_back({std::move(w), first});
            first = false;
          }
          break;
        }
      }
    }
    pieces = std::move(next);
  }
  std::vector<std::string> words;
  words.reserve(pieces.size());
  for (Piece& p : pieces) words.push_back(std::move(p.text));
  return words;
}

}  // namespace qrun::tok
