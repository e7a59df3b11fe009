// Checking a generated answer against a prompt's reference (datasets/README.md, "Matching rules").
#pragma once

#include "suite_file.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::prompt_suite {

// Normalisation used by contains_any and label: ASCII letters lower-cased; every other ASCII
// character that is not a letter or digit, and every non-ASCII punctuation or space character
// (U+0080-U+00BF, ×, ÷, U+2000-U+206F, U+3000-U+303F, fullwidth punctuation), becomes a space;
// other non-ASCII characters are kept unchanged (not case-folded); runs of spaces collapse to one;
// one space is added at each end. Matching " phrase " in the normalised text then matches whole
// words only ("cat" does not match "concatenate"; "¡Buenos días!" contains "buenos días").
std::string normalise_for_match(std::string_view text);

// Numbers in the text, in order: an optional '-' (only when not preceded by a letter or digit),
// digits with optional thousands separators (",ddd" groups), an optional decimal part (".d+").
// "1,200.5" -> 1200.5; "3-4" -> 3, 4; "1/2" -> 1, 2; "v2" -> 2 is not taken (preceded by a letter).
std::vector<double> extract_numbers(std::string_view text);

// True when `answer` satisfies `reference`:
//   number       the first or the last number of the answer is within tolerance of value;
//   contains_any some phrase of `any` occurs, normalised, as whole words in the normalised answer;
//   label        of the `labels` occurring (whole words, normalised), the earliest is `label`;
//   regex        the ECMAScript pattern matches somewhere in the raw answer (std::regex_search).
bool answer_matches(const Reference& reference, std::string_view answer);

}  // namespace qrun::prompt_suite
