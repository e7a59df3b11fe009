// Refusal judges (judges.hpp).
#include "judges.hpp"

#include "generation.hpp"

#include <qrun/sha256.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace qrun::behaviour {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::refusal: return "refusal";
    case Verdict::compliance: return "compliance";
    default: return "unparsed";
  }
}

namespace {

using nlohmann::json;

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Result<json> read_json(const std::filesystem::path& file, const std::string& schema, std::string& sha) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error::of(ErrorCode::not_found, file.string(), "cannot be opened", "check the path");
  std::ostringstream s;
  s << in.rdbuf();
  sha = sha256_hex(s.str());
  json j = json::parse(s.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Error::of(ErrorCode::corrupt_input, file.string(), "is not a JSON object", "fix the file");
  if (j.value("schema", "") != schema || j.value("schema_version", 0) != 1)
    return Error::of(ErrorCode::corrupt_input, file.string(),
                     "is not a \"" + schema + "\" file of schema_version 1",
                     "set \"schema\": \"" + schema + "\", \"schema_version\": 1");
  return j;
}

}  // namespace

Result<PrefixList> load_prefix_list(const std::filesystem::path& file) {
  PrefixList out;
  auto j = read_json(file, "qrun.refusal_prefixes", out.sha256);
  if (!j) return j.error();
  out.name = j->value("name", file.filename().string());
  auto it = j->find("prefixes");
  if (it == j->end() || !it->is_array() || it->empty())
    return Error::of(ErrorCode::corrupt_input, file.string() + " .prefixes", "is missing or empty", "list the phrases");
  for (const auto& p : *it) {
    if (!p.is_string() || p.get<std::string>().empty())
      return Error::of(ErrorCode::corrupt_input, file.string() + " .prefixes", "holds an entry that is not a non-empty string",
                       "list non-empty strings");
    out.prefixes.push_back(p.get<std::string>());
  }
  return out;
}

bool contains_refusal_phrase(const std::string& response, const std::vector<std::string>& phrases, bool case_sensitive) {
  const std::string hay = case_sensitive ? response : ascii_lower(response);
  return std::any_of(phrases.begin(), phrases.end(), [&](const std::string& p) {
    return hay.find(case_sensitive ? p : ascii_lower(p)) != std::string::npos;
  });
}

Result<JudgeFile> load_judge_file(const std::filesystem::path& file) {
  JudgeFile out;
  auto j = read_json(file, "qrun.refusal_judge", out.sha256);
  if (!j) return j.error();
  const std::string f = file.string();
  out.name = j->value("name", file.filename().string());
  auto msgs = j->find("messages");
  if (msgs == j->end() || !msgs->is_array() || msgs->empty())
    return Error::of(ErrorCode::corrupt_input, f + " .messages", "is missing or empty", "give the judge's chat messages");
  bool has_response = false;
  for (const auto& m : *msgs) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") || !m["role"].is_string() || !m["content"].is_string())
      return Error::of(ErrorCode::corrupt_input, f + " .messages", "holds an entry without string role and content",
                       "write {\"role\": \"user\", \"content\": \"...\"}");
    out.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    has_response |= out.messages.back().content.find("{response}") != std::string::npos;
  }
  if (!has_response)
    return Error::of(ErrorCode::corrupt_input, f + " .messages", "never mention {response}",
                     "put {response} (and usually {request}) where the judge reads them");
  out.max_new_tokens = j->value("max_new_tokens", std::int64_t{16});
  if (out.max_new_tokens < 1 || out.max_new_tokens > 4096)
    return Error::of(ErrorCode::corrupt_input, f + " .max_new_tokens", "is not in [1, 4096]", "use a small number");
  auto labels = j->find("labels");
  if (labels == j->end() || !labels->is_object() || labels->empty())
    return Error::of(ErrorCode::corrupt_input, f + " .labels", "is missing or empty",
                     "map answer phrases to \"refusal\" or \"compliance\"");
  for (const auto& [phrase, verdict] : labels->items()) {
    const std::string v = verdict.is_string() ? verdict.get<std::string>() : "";
    if (phrase.empty() || (v != "refusal" && v != "compliance"))
      return Error::of(ErrorCode::corrupt_input, f + " .labels." + phrase, "must map a non-empty phrase to refusal or compliance",
                       "write \"phrase\": \"refusal\"");
    out.labels.emplace_back(ascii_lower(phrase), v == "refusal" ? Verdict::refusal : Verdict::compliance);
  }
  return out;
}

std::vector<ChatMessage> judge_messages(const JudgeFile& judge, const std::string& request, const std::string& response) {
  auto fill = [&](std::string s) {
    for (const auto& [key, value] : {std::pair<std::string, const std::string*>{"{request}", &request},
                                     std::pair<std::string, const std::string*>{"{response}", &response}}) {
      std::string out;
      std::size_t from = 0, at;
      while ((at = s.find(key, from)) != std::string::npos) {
        out += s.substr(from, at - from) + *value;
        from = at + key.size();
      }
      s = out + s.substr(from);
    }
    return s;
  };
  std::vector<ChatMessage> out;
  for (const ChatMessage& m : judge.messages) out.push_back({m.role, fill(m.content)});
  return out;
}

Verdict parse_verdict(const std::string& answer, const std::vector<std::pair<std::string, Verdict>>& labels) {
  const std::string text = ascii_lower(answer);
  std::size_t best_at = std::string::npos, best_len = 0;
  Verdict best = Verdict::unparsed;
  for (const auto& [phrase, verdict] : labels) {
    for (std::size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
      const bool starts = at == 0 || !is_word_char(text[at - 1]);
      const std::size_t end = at + phrase.size();
      const bool ends = end >= text.size() || !is_word_char(text[end]);
      if (!starts || !ends) continue;
      if (at < best_at || (at == best_at && phrase.size() > best_len)) {
        best_at = at;
        best_len = phrase.size();
        best = verdict;
      }
      break;  // later occurrences of this phrase cannot be earlier
    }
  }
  return best;
}

Result<std::vector<JudgeResult>> run_model_judge(Model& judge, const JudgeFile& file,
                                                 const std::vector<std::string>& requests,
                                                 const std::vector<std::string>& responses, std::int64_t batch_size,
                                                 RunContext& ctx) {
  const Tokenizer& tok = judge.tokenizer();
  if (!tok.has_chat_template())
    return Error::of(ErrorCode::unsupported, "refusal judge model " + judge.source().name, "has no chat template",
                     "use an instruct or classifier checkpoint with a chat template as judge_model");
  std::vector<std::vector<std::int64_t>> ids;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto text = tok.apply_chat_template(judge_messages(file, requests[i], responses[i]), /*add_generation_prompt=*/true);
    if (!text) return text.error().within("refusal judge:");
    ids.push_back(tok.encode(*text, /*add_special_tokens=*/false));
  }
  Decoding d;
  d.max_new_tokens = file.max_new_tokens;
  d.batch_size = batch_size;
  auto outs = generate_outputs(judge, ids, d, ctx, "refusal: judge");
  if (!outs) return outs.error();
  std::vector<JudgeResult> out;
  for (const Output& o : outs->front()) out.push_back({parse_verdict(o.text, file.labels), o.text});
  return out;
}

Result<std::filesystem::path> resolve_data_file(const std::string& path, const std::filesystem::path& beside,
                                                const std::string& thing) {
  const std::filesystem::path p(path);
  if (std::filesystem::exists(p)) return p;
  if (p.is_relative()) {
    const std::filesystem::path q = beside / p.filename();
    if (std::filesystem::exists(q)) return q;
    return Error::of(ErrorCode::not_found, thing, "\"" + path + "\" exists neither in the working directory nor as " + q.string(),
                     "give an absolute path or run from the repository root");
  }
  return Error::of(ErrorCode::not_found, thing, "\"" + path + "\" does not exist", "check the path");
}

}  // namespace qrun::behaviour
