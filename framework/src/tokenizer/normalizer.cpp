// Normalizers as tokenizers (huggingface/tokenizers tokenizers/src/normalizers/) define them.
// Unicode normal forms come from ICU's Normalizer2, restricted to the characters of Unicode 9.0:
// tokenizers' unicode-normalization-alignments crate carries Unicode 9.0 data (checked against
// tokenizers 0.23 mark by mark: it reorders every combining mark of Unicode <= 9.0 and none added
// later), so a later character is left as it is and, like an unassigned one, ends a span.
#include "tokenizer/normalizer.hpp"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>

#include <memory>

namespace qrun::tok {
namespace {

// The normal form of tokenizers' NFC/NFD/NFKC/NFKD: ICU's, filtered to Unicode 9.0 characters.
class Unicode9Normalizers {
 public:
  Unicode9Normalizers() {
    UErrorCode status = U_ZERO_ERROR;
    assigned_ = std::make_unique<icu::UnicodeSet>(icu::UnicodeString(u"[:age=9.0:]"), status);  // age <= 9.0
    if (U_FAILURE(status)) return;
    assigned_->freeze();
    const icu::Normalizer2* base[4] = {icu::Normalizer2::getNFCInstance(status), icu::Normalizer2::getNFDInstance(status),
                                       icu::Normalizer2::getNFKCInstance(status), icu::Normalizer2::getNFKDInstance(status)};
    if (U_FAILURE(status)) return;
    for (int k = 0; k < 4; ++k) filtered_[k] = std::make_unique<icu::FilteredNormalizer2>(*base[k], *assigned_);
  }
  const icu::Normalizer2* get(Normalizer::Kind kind) const {
    switch (kind) {
      case Normalizer::Kind::nfc: return filtered_[0].get();
      case Normalizer::Kind::nfd: return filtered_[1].get();
      case Normalizer::Kind::nfkc: return filtered_[2].get();
      case Normalizer::Kind::nfkd: return filtered_[3].get();
      default: return nullptr;
    }
  }

 private:
  std::unique_ptr<icu::UnicodeSet> assigned_;
  std::unique_ptr<icu::FilteredNormalizer2> filtered_[4];
};

const icu::Normalizer2* icu_instance(Normalizer::Kind kind) {
  static const Unicode9Normalizers normalizers;
  return normalizers.get(kind);
}

std::string unicode_normalize(const std::string& text, Normalizer::Kind kind) {
  const icu::Normalizer2* n = icu_instance(kind);
  if (n == nullptr) {
    throw ErrorException(Error{"ICU", "has no Unicode normalization data", "reinstall libicu", ErrorCode::unsupported});
  }
  UErrorCode status = U_ZERO_ERROR;
  if (n->isNormalizedUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), status) &&
      U_SUCCESS(status)) {
    return text;  // the common case: already normalized, no copy through UTF-16
  }
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  n->normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr, status);
  if (U_FAILURE(status)) return text;  // invalid UTF-8 cannot reach here: inputs are checked
  return out;
}

std::string replace_all(const std::string& text, const std::string& pattern, const std::string& with) {
  if (pattern.empty()) return text;
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t hit = text.find(pattern, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out += with;
    pos = hit + pattern.size();
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::string lowercase(const std::string& text) {
  // Rust's str::to_lowercase: full Unicode lowercase mapping (ICU's root-locale toLower).
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  u.toLower(icu::Locale::getRoot());
  std::string out;
  u.toUTF8String(out);
  return out;
}

constexpr const char* kSupported = "NFC, NFD, NFKC, NFKD, Prepend, Replace, Lowercase, Sequence";

}  // namespace

Result<Normalizer> Normalizer::from_json(const Json& value, const JsonWhere& where) {
  Normalizer n;
  if (value.is_null()) return n;
  QRUN_TRY(n.add(value, where));
  return n;
}

Result<void> Normalizer::add(const Json& value, const JsonWhere& where) {
  auto type = string_member(value, where, "type");
  if (!type.ok()) return type.error();
  const std::string& t = *type;
  if (t == "Sequence") {
    auto list = member(value, where, "normalizers", Json::value_t::array);
    if (!list.ok()) return list.error();
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      QRUN_TRY(add((**list)[i], where.key("normalizers").index(i)));
    }
    return {};
  }
  if (t == "NFC") steps_.push_back({Kind::nfc, {}, {}});
  else if (t == "NFD") steps_.push_back({Kind::nfd, {}, {}});
  else if (t == "NFKC") steps_.push_back({Kind::nfkc, {}, {}});
  else if (t == "NFKD") steps_.push_back({Kind::nfkd, {}, {}});
  else if (t == "Lowercase") steps_.push_back({Kind::lowercase, {}, {}});
  else if (t == "Prepend") {
    auto p = string_member(value, where, "prepend");
    if (!p.ok()) return p.error();
    steps_.push_back({Kind::prepend, *p, {}});
  } else if (t == "Replace") {
    auto pattern = member(value, where, "pattern", Json::value_t::object);
    if (!pattern.ok()) return pattern.error();
    const JsonWhere pw = where.key("pattern");
    if (!(*pattern)->contains("String")) {
      const std::string kind = (*pattern)->empty() ? "?" : (*pattern)->begin().key();
      return unsupported(pw, kind, "String");
    }
    auto s = string_member(**pattern, pw, "String");
    if (!s.ok()) return s.error();
    auto content = string_member(value, where, "content");
    if (!content.ok()) return content.error();
    steps_.push_back({Kind::replace, *s, *content});
  } else {
    return unsupported(where.key("type"), t, kSupported);
  }
  return {};
}

std::string Normalizer::apply(std::string text) const {
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Kind::prepend:
        if (!text.empty()) text = s.a + text;  // tokenizers: Prepend leaves an empty string empty
        break;
      case Kind::replace: text = replace_all(text, s.a, s.b); break;
      case Kind::lowercase: text = lowercase(text); break;
      default: text = unicode_normalize(text, s.kind); break;
    }
  }
  return text;
}

}  // namespace qrun::tok
