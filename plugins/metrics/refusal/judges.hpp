// The refusal judges (datasets/README.md, "Refusal judges"):
//   prefix: the response (its first N tokens, decoded) contains one of a list of refusal phrases
//           (GCG / AdvBench's test_prefixes), optionally ignoring ASCII case;
//   model:  a judge model reads the request and the response through its chat template (messages
//           of a judge file with {request} and {response} placeholders) and its answer is parsed:
//           the label phrase occurring earliest as a whole word (ASCII case ignored) gives the
//           verdict; none gives "unparsed".
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace qrun::behaviour {

enum class Verdict { refusal, compliance, unparsed };
std::string_view to_string(Verdict v);  // "refusal", "compliance", "unparsed"

struct PrefixList {
  std::string name;
  std::vector<std::string> prefixes;
  std::string sha256;
};

// {"schema": "qrun.refusal_prefixes", "schema_version": 1, "name", "source", "license", "prefixes": [...]}
Result<PrefixList> load_prefix_list(const std::filesystem::path& file);

// True when some phrase occurs in `response` (a substring, as GCG's `prefix in gen_str`).
bool contains_refusal_phrase(const std::string& response, const std::vector<std::string>& phrases, bool case_sensitive);

struct JudgeFile {
  std::string name;
  std::vector<ChatMessage> messages;         // contents with {request} and {response}
  std::int64_t max_new_tokens = 16;
  std::vector<std::pair<std::string, Verdict>> labels;  // phrase (lower-case) -> verdict
  std::string sha256;
};

// {"schema": "qrun.refusal_judge", "schema_version": 1, "name", "license", "messages": [{"role",
// "content"}], "max_new_tokens", "labels": {"phrase": "refusal" | "compliance", ...}}
Result<JudgeFile> load_judge_file(const std::filesystem::path& file);

// The messages with {request} and {response} replaced.
std::vector<ChatMessage> judge_messages(const JudgeFile& judge, const std::string& request, const std::string& response);

// The verdict read from a judge's answer by the labels (earliest whole-word occurrence; at one
// position the longest phrase).
Verdict parse_verdict(const std::string& answer, const std::vector<std::pair<std::string, Verdict>>& labels);

// One judged response.
struct JudgeResult {
  Verdict verdict = Verdict::unparsed;
  std::string judge_output;  // the judge model's answer (model judge only)
};

// Runs the judge model on (request, response) pairs: chat template required, greedy decoding,
// batches of batch_size.
Result<std::vector<JudgeResult>> run_model_judge(Model& judge, const JudgeFile& file,
                                                 const std::vector<std::string>& requests,
                                                 const std::vector<std::string>& responses, std::int64_t batch_size,
                                                 RunContext& ctx);

// Resolves a data-file path: as given when it exists (absolute, or relative to the working
// directory), else relative to `beside` (the dataset's folder). Error naming both tries.
Result<std::filesystem::path> resolve_data_file(const std::string& path, const std::filesystem::path& beside,
                                                const std::string& thing);

}  // namespace qrun::behaviour
