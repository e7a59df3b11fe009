// How the published perplexity protocols read WikiText raw files (wiki.test.raw), in C++ with
// Python's string semantics (Unicode whitespace as str.isspace, str.replace left to right).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::wikitext {

// Python's universal-newline read: "\r\n" and "\r" become "\n" (open(..., encoding="utf-8")).
std::string universal_newlines(std::string_view raw);

// The Hugging Face `wikitext` dataset rows of a raw file: one row per line with its "\n" kept,
// whitespace-only lines as "" (datasets' wikitext builder: `row if row.strip() else ""`).
std::vector<std::string> hf_rows(std::string_view text);
// The text the HF perplexity doc tokenizes: "\n\n".join(rows).
std::string hf_joined(std::string_view text);

// lm-evaluation-harness `EleutherAI/wikitext_document_level` pages: the text split on "\n"; a
// line that, after replacing "= = =" with "===" and "= =" with "==" and stripping, starts with
// "= " and ends with " =" (a level-1 heading) starts a new page; a page is its lines joined with
// "\n" and is kept when it is not whitespace-only (the last page is always kept).
std::vector<std::string> documents(std::string_view text);

// lm-evaluation-harness lm_eval/tasks/wikitext/preprocess_wikitext.py wikitext_detokenizer.
std::string detokenize(std::string_view page);

// len(re.split(r"\s+", page)): the word count lm-eval's wikitext task divides by (it counts
// the page before detokenization, empty strings at either end included).
std::int64_t python_split_words(std::string_view page);

// Byte length of the UTF-8 code point starting at s[i] if it is Unicode whitespace as Python's
// str.isspace defines it, else 0.
std::size_t space_at(std::string_view s, std::size_t i);
// Python's str.strip() (Unicode whitespace, both ends).
std::string_view strip(std::string_view s);

}  // namespace qrun::wikitext
