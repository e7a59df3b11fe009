// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) translated from the
// Oniguruma syntax tokenizers uses: \s and \S are rewritten to Unicode White_Space, which is what
// Oniguruma matches (PCRE2's \s differs, e.g. it also matches U+180E), and \p{..} / \P{..} of a
// General_Category to its Unicode 16.0 code points (unicode_categories.hpp), which is what
// tokenizers 0.23's Oniguruma matches (PCRE2 10.42 knows Unicode 14).
#pragma once

#include <qrun/error.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qrun::tok {

class Regex {
 public:
  // `literal`: the pattern is plain text (tokenizers' {"String": ...} patterns).
  static Result<std::shared_ptr<const Regex>> compile(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-overlapping, non-empty match [begin, end) from left to right. `text` is valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
};

// Oniguruma -> PCRE2 rewriting of \s, \S and \p{..} (exposed for tests).
Result<std::string> translate_oniguruma(const std::string& pattern);

}  // namespace qrun::tok
