// The prompt-suite file (datasets/prompt_suite_96.json; format in datasets/README.md): prompts
// grouped in categories, some with a reference answer and the rule that checks it.
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun::prompt_suite {

inline constexpr std::int64_t kSchemaVersion = 1;

// How an answer is checked against a reference (datasets/README.md, "Matching rules").
enum class Rule { number, contains_any, label, regex };
std::string_view to_string(Rule r);  // "number", "contains_any", "label", "regex"

struct Reference {
  Rule rule = Rule::number;
  double value = 0;                   // number: the expected value
  double tolerance = 0;               // number: |x - value| <= tolerance passes
  std::vector<std::string> any;       // contains_any: accepted phrases
  std::string label;                  // label: the expected label (one of `labels`)
  std::vector<std::string> labels;    // label: every label the answer may name
  std::string pattern;                // regex: ECMAScript pattern searched in the raw answer
  bool ignore_case = false;           // regex: case-insensitive search
};

struct Prompt {
  std::string id;        // "math-03"
  std::string category;  // one of PromptSuite::categories
  std::string text;
  std::optional<Reference> reference;
};

struct PromptSuite {
  std::string name;
  std::int64_t schema_version = 0;
  std::string license;
  std::vector<std::string> categories;  // in file order
  std::vector<Prompt> prompts;          // in file order
};

// Reads and validates the whole file: schema name and version, unique ids, known categories,
// well-formed references (a regex must compile; a label must be among its labels). Every
// violation is one Error naming the file and the prompt ("<file> prompts[12] (math-05).reference").
Result<PromptSuite> load_prompt_suite(const std::filesystem::path& path);

// The prompts to run: those of `categories` (empty: all; an unknown name is an error listing the
// known ones), at most `limit_per_category` of each (0: all), in file order.
Result<std::vector<Prompt>> select_prompts(const PromptSuite& suite,
                                           const std::vector<std::string>& categories,
                                           std::int64_t limit_per_category);

}  // namespace qrun::prompt_suite
