// Multiple-choice items as lm-evaluation-harness builds its requests from the standard files
// (lm_eval/tasks/{arc,mmlu,hellaswag}, zero-shot):
//   ARC (allenai/ai2_arc JSONL rows {question, choices {text, label}, answerKey}, or the original
//       ARC-V1 JSONL {question {stem, choices [{text, label}]}, answerKey}):
//       context "Question: <question>\nAnswer:", choices the option texts, gold the answerKey's index.
//   MMLU (cais/mmlu JSONL rows {question, subject, choices [4], answer 0-3}, or the original
//       per-subject CSV <subject>_test.csv: question,A,B,C,D,answer letter; no header):
//       context "The following are multiple choice questions (with answers) about <subject with
//       spaces>.\n\n<question.strip()>\nA. <A>\nB. <B>\nC. <C>\nD. <D>\nAnswer:", choices "A".."D".
//   HellaSwag (Rowan/hellaswag JSONL rows {activity_label, ctx_a, ctx_b, endings [4], label}):
//       context preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)), choices
//       preprocess(ending), with lm-eval's preprocess (strip; " [title]" -> ". "; drop "[...]";
//       "  " -> " ") and Python's str.capitalize; subject = activity_label.
//   qrun JSONL {id, subject, context, choices [...], answer}: the context and choices as given.
// Every choice is scored as the continuation " " + choice (lm-eval's target_delimiter).
#pragma once

#include <qrun/error.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qrun::mc {

struct Item {
  std::string id;
  std::string subject;
  std::string context;
  std::vector<std::string> choices;
  std::int64_t gold = 0;  // index into choices
};

struct ItemSet {
  std::string format;  // "arc", "mmlu", "hellaswag", "qrun"
  std::vector<Item> items;
};

// format: "auto" (by each JSONL row's fields; .csv = MMLU CSV) or one of the formats above.
Result<ItemSet> load_items(const std::filesystem::path& file, const std::string& format);

// lm-eval's hellaswag preprocess and Python's str.capitalize (ASCII letters only change case).
std::string hellaswag_preprocess(const std::string& text);
std::string py_capitalize(const std::string& text);

// The first `limit` items of each subject, in file order (0: all).
std::vector<Item> first_per_subject(const std::vector<Item>& items, std::int64_t limit);

}  // namespace qrun::mc
