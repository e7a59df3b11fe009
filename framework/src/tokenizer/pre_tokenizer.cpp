// Pre-tokenizers as tokenizers (tokenizers/src/pre_tokenizers/{split,byte_level,sequence}.rs) and
// NormalizedString::split (tokenizers/src/tokenizer/normalizer.rs) define them.
#include "tokenizer/pre_tokenizer.hpp"

#include "tokenizer/byte_level.hpp"

#include <utility>

namespace qrun::tok {
namespace {

// GPT-2's pattern, used by ByteLevel when use_regex is true (tokenizers pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr const char* kSupported = "Split, ByteLevel, Sequence";

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
  if (t == "Split") {
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
    if (!regex.ok()) return pw.error(regex.error().reason, regex.error().fix);
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
    step.byte_level = true;
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

void PreTokenizer::apply_split(const Step& step, const std::string& piece, std::vector<std::string>& out) {
  // (begin, end, is_match) covering the piece, as tokenizers' Pattern::find_matches.
  struct Part { std::size_t begin, end; bool match; };
  std::vector<Part> parts;
  std::size_t prev = 0;
  for (const auto& [b, e] : step.regex->find_all(piece)) {
    if (prev != b) parts.push_back({prev, b, false});
    parts.push_back({b, e, true});
    prev = e;
  }
  if (prev != piece.size()) parts.push_back({prev, piece.size(), false});
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
    if (e > b) out.push_back(piece.substr(b, e - b));
  }
}

std::vector<std::string> PreTokenizer::split(std::string text) const {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.push_back(std::move(text));
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    next.reserve(pieces.size());
    for (std::string& piece : pieces) {
      if (!step.byte_level) {
        apply_split(step, piece, next);
        continue;
      }
      if (step.add_prefix_space && piece.front() != ' ') piece.insert(piece.begin(), ' ');
      std::vector<std::string> words;
      if (step.regex) apply_split(step, piece, words);
      else words.push_back(std::move(piece));
      for (const std::string& w : words) {
        std::string mapped;
        mapped.reserve(w.size() * 2);
        byte_level_encode_append(w, mapped);
        next.push_back(std::move(mapped));
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace qrun::tok
