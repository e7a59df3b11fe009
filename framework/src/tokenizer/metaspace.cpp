// Metaspace as tokenizers defines it (tokenizers/src/pre_tokenizers/metaspace.rs: the
// MetaspaceHelper deserializer, PreTokenizer::pre_tokenize and Decoder::decode_chain).
#include "tokenizer/metaspace.hpp"

#include "tokenizer/utf8.hpp"

namespace qrun::tok {

Result<Metaspace> Metaspace::from_json(const Json& value, const JsonWhere& where) {
  Metaspace m;
  auto replacement = string_member(value, where, "replacement");
  if (!replacement.ok()) return replacement.error();
  std::size_t i = 0;
  if (replacement->empty() || (next_code_point(*replacement, i), i != replacement->size())) {
    return where.key("replacement").error("is not one character", "restore the file from the original download");
  }
  m.replacement = *replacement;
  auto scheme = optional_member(value, where, "prepend_scheme", Json::value_t::string);
  if (!scheme.ok()) return scheme.error();
  if (*scheme != nullptr) {
    const auto s = (*scheme)->get<std::string>();
    if (s == "always") m.prepend = Prepend::always;
    else if (s == "first") m.prepend = Prepend::first;
    else if (s == "never") m.prepend = Prepend::never;
    else return unsupported(where.key("prepend_scheme"), s, "always, first, never");
  }
  auto add_prefix_space = optional_member(value, where, "add_prefix_space", Json::value_t::boolean);
  if (!add_prefix_space.ok()) return add_prefix_space.error();
  if (*add_prefix_space != nullptr && !(*add_prefix_space)->get<bool>()) {
    if (m.prepend != Prepend::never) {  // tokenizers refuses this file too
      return where.key("add_prefix_space").error("is false but prepend_scheme is not \"never\"",
                                                 "set prepend_scheme to \"never\" or drop add_prefix_space");
    }
  }
  auto split = bool_member(value, where, "split", true);
  if (!split.ok()) return split.error();
  m.split = *split;
  return m;
}

std::vector<std::string> Metaspace::pre_tokenize(const std::string& text, bool at_input_start) const {
  if (text.empty()) return {};  // tokenizers drops empty pieces before any pre-tokenizer sees them
  std::string s;
  s.reserve(text.size() + replacement.size());
  for (char c : text) {
    if (c == ' ') s += replacement;
    else s += c;
  }
  const bool starts_with = s.compare(0, replacement.size(), replacement) == 0;
  if (!starts_with && (prepend == Prepend::always || (prepend == Prepend::first && at_input_start))) {
    s.insert(0, replacement);
  }
  std::vector<std::string> out;
  if (!split) {
    if (!s.empty()) out.push_back(std::move(s));
    return out;
  }
  // Split on each replacement character, merged with the text after it (MergedWithNext).
  std::size_t begin = 0;
  for (std::size_t hit = s.find(replacement, 1); hit != std::string::npos; hit = s.find(replacement, hit + 1)) {
    out.push_back(s.substr(begin, hit - begin));
    begin = hit;
  }
  if (begin < s.size()) out.push_back(s.substr(begin));
  return out;
}

void Metaspace::decode(std::vector<std::string>& tokens) const {
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const bool drop = k == 0 && prepend != Prepend::never;
    std::string out;
    const std::string& t = tokens[k];
    for (std::size_t i = 0; i < t.size();) {
      if (t.compare(i, replacement.size(), replacement) == 0) {
        if (!drop) out += ' ';
        i += replacement.size();
      } else {
        out += t[i++];
      }
    }
    tokens[k] = std::move(out);
  }
}

}  // namespace qrun::tok
