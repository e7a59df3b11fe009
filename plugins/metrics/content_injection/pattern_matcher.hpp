// The content-injection patterns: PCRE2 regular expressions (UTF-8, Unicode properties),
// optionally literal or caseless, compiled once and searched in each generation.
#pragma once

#include <qrun/error.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::behaviour {

class PatternSet {
 public:
  // Error (invalid_argument) naming the pattern and PCRE2's message and offset when one does not compile.
  static Result<PatternSet> compile(const std::vector<std::string>& patterns, bool literal, bool case_sensitive);
  PatternSet(PatternSet&&) noexcept;
  PatternSet& operator=(PatternSet&&) noexcept;
  ~PatternSet();

  std::size_t size() const { return patterns_.size(); }
  const std::string& pattern(std::size_t i) const { return patterns_[i]; }
  // Whether pattern i matches somewhere in `text` (UTF-8; invalid sequences never match).
  bool matches(std::size_t i, std::string_view text) const;

 private:
  PatternSet() = default;
  std::vector<std::string> patterns_;
  std::vector<void*> codes_;  // pcre2_code_8*
};

}  // namespace qrun::behaviour
