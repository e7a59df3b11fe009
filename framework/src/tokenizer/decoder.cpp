// Decoders as tokenizers defines them (tokenizers/src/decoders/{byte_level,byte_fallback,fuse,
// strip,sequence}.rs, normalizers/replace.rs, pre_tokenizers/metaspace.rs): each step maps the
// list of token strings.
#include "tokenizer/decoder.hpp"

#include "tokenizer/byte_level.hpp"
#include "tokenizer/utf8.hpp"

namespace qrun::tok {
namespace {

constexpr const char* kSupported = "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence";

std::string replace_all(const std::string& text, const std::string& pattern, const std::string& with) {
  if (pattern.empty()) return text;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = text.find(pattern, pos)) != std::string::npos; pos = hit + pattern.size()) {
    out.append(text, pos, hit - pos);
    out += with;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

// "<0xAB>" -> 0xAB, or -1.
int byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::vector<std::string> byte_fallback(std::vector<std::string> tokens) {
  std::vector<std::string> out;
  std::string bytes;
  std::size_t n_bytes = 0;
  auto flush = [&] {
    if (n_bytes == 0) return;
    if (is_valid_utf8(bytes)) {
      out.push_back(bytes);
    } else {  // tokenizers: one U+FFFD per byte token when the bytes are not valid UTF-8
      for (std::size_t k = 0; k < n_bytes; ++k) out.emplace_back("\xEF\xBF\xBD");
    }
    bytes.clear();
    n_bytes = 0;
  };
  for (std::string& t : tokens) {
    const int b = byte_token_value(t);
    if (b >= 0) {
      bytes += static_cast<char>(b);
      ++n_bytes;
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  return out;
}

std::string strip(const std::string& token, char32_t c, std::size_t start, std::size_t stop) {
  std::vector<std::size_t> offsets;  // byte offset of each character, plus the end
  for (std::size_t i = 0; i < token.size();) {
    offsets.push_back(i);
    next_code_point(token, i);
  }
  const std::size_t n = offsets.size();
  offsets.push_back(token.size());
  auto char_at = [&](std::size_t k) {
    std::size_t i = offsets[k];
    return next_code_point(token, i);
  };
  std::size_t first = 0, last = n;
  while (first < n && first < start && char_at(first) == c) ++first;
  while (last > first && n - last < stop && char_at(last - 1) == c) --last;
  return token.substr(offsets[first], offsets[last] - offsets[first]);
}

}  // namespace

Result<Decoder> Decoder::from_json(const Json& value, const JsonWhere& where) {
  Decoder d;
  if (value.is_null()) return d;
  d.present_ = true;
  QRUN_TRY(d.add(value, where));
  return d;
}

Result<void> Decoder::add(const Json& value, const JsonWhere& where) {
  auto type = string_member(value, where, "type");
  if (!type.ok()) return type.error();
  const std::string& t = *type;
  if (t == "Sequence") {
    auto list = member(value, where, "decoders", Json::value_t::array);
    if (!list.ok()) return list.error();
    for (std::size_t i = 0; i < (*list)->size(); ++i) QRUN_TRY(add((**list)[i], where.key("decoders").index(i)));
    return {};
  }
  Step step{Kind::fuse, {}, {}, 0, 0, {}};
  if (t == "Metaspace") {
    auto m = Metaspace::from_json(value, where);
    if (!m.ok()) return m.error();
    step.kind = Kind::metaspace;
    step.metaspace = std::move(*m);
  } else if (t == "ByteLevel") {
    step.kind = Kind::byte_level;
  } else if (t == "ByteFallback") {
    step.kind = Kind::byte_fallback;
  } else if (t == "Fuse") {
    step.kind = Kind::fuse;
  } else if (t == "Replace") {
    step.kind = Kind::replace;
    auto pattern = member(value, where, "pattern", Json::value_t::object);
    if (!pattern.ok()) return pattern.error();
    if (!(*pattern)->contains("String")) {
      return unsupported(where.key("pattern"), (*pattern)->empty() ? "?" : (*pattern)->begin().key(), "String");
    }
    auto s = string_member(**pattern, where.key("pattern"), "String");
    auto content = string_member(value, where, "content");
    if (!s.ok()) return s.error();
    if (!content.ok()) return content.error();
    step.pattern = *s;
    step.content = *content;
  } else if (t == "Strip") {
    step.kind = Kind::strip;
    auto content = string_member(value, where, "content");
    if (!content.ok()) return content.error();
    std::size_t i = 0;
    if (content->empty() || (next_code_point(*content, i), i != content->size())) {
      return where.key("content").error("is not one character", "restore the file from the original download");
    }
    step.content = *content;
    for (const char* key : {"start", "stop"}) {
      auto n = member(value, where, key, Json::value_t::number_unsigned);
      if (!n.ok()) return n.error();
      if ((*n)->get<std::int64_t>() < 0) return where.key(key).error("is negative", "restore the file");
      (std::string(key) == "start" ? step.start : step.stop) = (*n)->get<std::size_t>();
    }
  } else {
    return unsupported(where.key("type"), t, kSupported);
  }
  steps_.push_back(std::move(step));
  return {};
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  if (!present_) {  // tokenizers without a decoder: tokens joined by spaces
    std::string out;
    for (std::size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Kind::byte_level: {
        std::string bytes;
        for (const std::string& t : tokens) byte_level_decode_append(t, bytes);
        tokens.assign(1, utf8_lossy(bytes));
        break;
      }
      case Kind::replace:
        for (std::string& t : tokens) t = replace_all(t, s.pattern, s.content);
        break;
      case Kind::byte_fallback: tokens = byte_fallback(std::move(tokens)); break;
      case Kind::fuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case Kind::metaspace: s.metaspace.decode(tokens); break;
      case Kind::strip: {
        std::size_t i = 0;
        const char32_t c = next_code_point(s.content, i);
        for (std::string& t : tokens) t = strip(t, c, s.start, s.stop);
        break;
      }
    }
  }
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

}  // namespace qrun::tok
