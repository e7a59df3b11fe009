// PCRE2 pattern matching (pattern_matcher.hpp).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern_matcher.hpp"

#include <pcre2.h>

namespace qrun::behaviour {

Result<PatternSet> PatternSet::compile(const std::vector<std::string>& patterns, bool literal, bool case_sensitive) {
  PatternSet set;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const std::string& p = patterns[i];
    if (p.empty())
      return Error{"content_injection.patterns[" + std::to_string(i) + "]", "is empty", "give a non-empty pattern"};
    // PCRE2_LITERAL refuses PCRE2_UCP; with PCRE2_UTF, caseless matching covers all of Unicode either way.
    std::uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    if (!case_sensitive) options |= PCRE2_CASELESS;
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), options, &code, &offset, nullptr);
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(code, msg, sizeof msg);
      return Error{"content_injection.patterns[" + std::to_string(i) + "] \"" + p + "\"",
                   "does not compile at offset " + std::to_string(offset) + ": " + reinterpret_cast<const char*>(msg),
                   "fix the regular expression (PCRE2 syntax) or set literal = true"};
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // optional speed-up; matching works without it
    set.patterns_.push_back(p);
    set.codes_.push_back(re);
  }
  return set;
}

PatternSet::PatternSet(PatternSet&& o) noexcept : patterns_(std::move(o.patterns_)), codes_(std::move(o.codes_)) {
  o.codes_.clear();
}

PatternSet& PatternSet::operator=(PatternSet&& o) noexcept {
  if (this != &o) {
    for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
    patterns_ = std::move(o.patterns_);
    codes_ = std::move(o.codes_);
    o.codes_.clear();
  }
  return *this;
}

PatternSet::~PatternSet() {
  for (void* c : codes_) pcre2_code_free(static_cast<pcre2_code*>(c));
}

bool PatternSet::matches(std::size_t i, std::string_view text) const {
  auto* re = static_cast<pcre2_code*>(codes_[i]);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  const int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

}  // namespace qrun::behaviour
