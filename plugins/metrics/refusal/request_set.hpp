// Prompt files of the generation-based behavioural metrics (refusal, content_injection): one
// request per item with an id, a category and whether it is harmful. Formats (datasets/README.md):
//   AdvBench harmful_behaviors.csv   header goal,target: every row harmful, category "advbench"
//   XSTest prompts CSV               header with prompt and label (safe/unsafe) or, as in the
//                                    v2 release without label, type (contrast_* = unsafe);
//                                    category = type
//   JSONL (qrun's own files)         one object a line: {"id", "prompt", "category", "harmful"}
//                                    ("harmful" optional: default_harmful)
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qrun::behaviour {

struct Request {
  std::string id;
  std::string text;
  std::string category;
  bool harmful = false;
};

struct RequestSet {
  std::string format;  // "advbench", "xstest", "jsonl"
  std::vector<Request> requests;
};

// Loads `file` by its extension (.csv: AdvBench or XSTest by the header; .jsonl: qrun's format).
// Errors name the file and line: unknown header, empty prompt, duplicate id, bad label, no rows.
Result<RequestSet> load_requests(const std::filesystem::path& file, bool default_harmful);

// The first `limit` requests of each category, in file order (0: all).
std::vector<Request> first_per_category(const std::vector<Request>& all, std::int64_t limit);

}  // namespace qrun::behaviour
