// PCRE2 wrapper for tokenizers' Split / ByteLevel regexes, with the Oniguruma classes \s and
// \p{General_Category} written out as tokenizers' Oniguruma (Unicode 16.0) matches them.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.hpp"

#include "tokenizer/unicode_categories.hpp"
#include "tokenizer/utf8.hpp"

#include <pcre2.h>

namespace qrun::tok {
namespace {

// Unicode White_Space (PropList.txt), the set Oniguruma's \s matches in UTF-8 mode.
constexpr const char* kWhiteSpace =
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

}  // namespace

Result<std::string> translate_oniguruma(const std::string& pattern) {
  std::string out;
  int class_depth = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      const bool in_class = class_depth > 0;
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S') {
        if (in_class) {
          return Error{"regex \"" + pattern + "\"", "uses \\S inside a character class",
                       "rewrite the class without \\S", ErrorCode::unsupported};
        }
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else if ((e == 'p' || e == 'P') && i + 1 < pattern.size() && pattern[i + 1] == '{') {
        // \p{Name}, \P{Name}, \p{^Name}: a General_Category as Unicode 16.0 defines it, written
        // out; other properties (scripts, ...) are left to PCRE2.
        const std::size_t close = pattern.find('}', i + 2);
        if (close == std::string::npos) {
          return Error{"regex \"" + pattern + "\"", "has \\" + std::string(1, e) + "{ without a closing }",
                       "restore the file from the original download", ErrorCode::corrupt_input};
        }
        std::string name = pattern.substr(i + 2, close - i - 2);
        bool negated = e == 'P';
        if (!name.empty() && name[0] == '^') {
          negated = !negated;
          name.erase(0, 1);
        }
        if (auto ranges = general_category(name)) {
          if (in_class) out += pcre2_class_body(negated ? complement(*ranges) : *ranges);
          else out += (negated ? "[^" : "[") + pcre2_class_body(*ranges) + "]";
        } else {
          out += pattern.substr(i - 1, close - i + 2);
        }
        i = close;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[') ++class_depth;
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

Result<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern, bool literal) {
  std::string source = pattern;
  if (!literal) {
    auto t = translate_oniguruma(pattern);
    if (!t.ok()) return t.error();
    source = *t;
  }
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2_LITERAL refuses PCRE2_UCP (it has no classes to apply Unicode properties to).
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    return Error{"regex \"" + pattern + "\"",
                 "PCRE2 cannot compile it at offset " + std::to_string(error_offset) + ": " +
                     reinterpret_cast<const char*>(message),
                 "use a pattern both Oniguruma and PCRE2 accept", ErrorCode::unsupported};
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT, matching is interpreted
  std::shared_ptr<Regex> r(new Regex());
  r->code_ = code;
  return std::shared_ptr<const Regex>(std::move(r));
}

Regex::~Regex() { pcre2_code_free(as_code(code_)); }

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(as_code(code_), nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset <= text.size()) {
    int rc = pcre2_match(as_code(code_), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // very long runs: retry with the interpreter
      rc = pcre2_match(as_code(code_), subject, text.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      throw ErrorException(Error{"pre-tokenizer regex", std::string("PCRE2 failed: ") +
                                                             reinterpret_cast<const char*>(message),
                                 "split the input into shorter texts"});
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const std::size_t begin = ov[0], end = ov[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
    } else {  // an empty match: step over one character
      if (begin >= text.size()) break;
      offset = begin + utf8_length(static_cast<unsigned char>(text[begin]));
    }
  }
  pcre2_match_data_free(md);
  return matches;
}

}  // namespace qrun::tok
