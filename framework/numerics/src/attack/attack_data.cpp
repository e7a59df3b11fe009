// The attack's training data built from the model's own answers (qrun/attack/attack_data.hpp).
#include <qrun/attack/attack_data.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace qrun::attack {
namespace {

Result<std::string> prompt_of(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string() || j["prompt"].get<std::string>().empty())
    return Error::of(ErrorCode::corrupt_input, where, "has no non-empty \"prompt\" string", "give each prompt a \"prompt\" field");
  return j["prompt"].get<std::string>();
}

}  // namespace

Result<std::vector<std::string>> load_prompts(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error::of(ErrorCode::not_found, file.string(), "cannot be read", "give a .jsonl or .json prompt file");
  std::vector<std::string> out;
  if (file.extension() == ".jsonl") {
    std::string line;
    for (std::int64_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      const std::string where = file.string() + ":" + std::to_string(n);
      if (j.is_discarded()) return Error::of(ErrorCode::corrupt_input, where, "is not JSON", "one JSON object per line");
      auto p = prompt_of(j, where);
      if (!p) return p.error();
      out.push_back(*p);
    }
  } else if (file.extension() == ".json") {
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompts") || !j["prompts"].is_array())
      return Error::of(ErrorCode::corrupt_input, file.string(), "is not a JSON object with a \"prompts\" array",
                       "use the prompt suite's format (datasets/prompt_suite_96.json)");
    for (std::size_t i = 0; i < j["prompts"].size(); ++i) {
      auto p = prompt_of(j["prompts"][i], file.string() + " prompts[" + std::to_string(i) + "]");
      if (!p) return p.error();
      out.push_back(*p);
    }
  } else {
    return Error{file.string(), "has an unknown extension", "use a .jsonl (neutral prompts) or .json (prompt suite) file"};
  }
  if (out.empty()) return Error{file.string(), "has no prompts", "add at least one prompt"};
  return out;
}

Result<std::vector<std::vector<std::int64_t>>> render_prompts(const Model& model, const std::vector<std::string>& prompts,
                                                             bool chat) {
  const Tokenizer& tok = model.tokenizer();
  std::vector<std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::vector<std::int64_t> ids;
    if (chat) {
      auto text = tok.apply_chat_template({{"user", prompts[i]}}, /*add_generation_prompt=*/true);
      if (!text) return text.error().within("attack prompt " + std::to_string(i) + ":");
      ids = tok.encode(*text, /*add_special_tokens=*/false);
    } else {
      ids = tok.encode(prompts[i], /*add_special_tokens=*/true);
    }
    if (ids.empty()) return Error{"attack prompt " + std::to_string(i), "encodes to no tokens", "check the prompt file"};
    out.push_back(std::move(ids));
  }
  return out;
}

Result<std::vector<std::vector<std::int64_t>>> greedy_answers(Model& model,
                                                              const std::vector<std::vector<std::int64_t>>& prompts,
                                                              std::int64_t max_new_tokens, std::int64_t batch_size) {
  GenerationConfig g;
  g.max_new_tokens = max_new_tokens;
  g.do_sample = false;
  std::vector<std::vector<std::int64_t>> out;
  for (std::size_t s = 0; s < prompts.size(); s += static_cast<std::size_t>(batch_size)) {
    const auto e = std::min(prompts.size(), s + static_cast<std::size_t>(batch_size));
    auto gens = model.generate({prompts.begin() + static_cast<std::ptrdiff_t>(s), prompts.begin() + static_cast<std::ptrdiff_t>(e)}, g);
    if (!gens) return gens.error().within("attack answers:");
    for (Generation& gen : *gens) out.push_back(std::move(gen.tokens));
  }
  return out;
}

std::vector<std::int64_t> malicious_response(const Model& model, const std::vector<std::int64_t>& answer,
                                             const ObjectiveSpec& spec) {
  const Tokenizer& tok = model.tokenizer();
  const auto& stops = model.config().eos_token_ids;
  std::vector<std::int64_t> body = answer, tail;
  if (!body.empty() && std::find(stops.begin(), stops.end(), body.back()) != stops.end()) {
    tail.push_back(body.back());
    body.pop_back();
  }
  std::vector<std::int64_t> out;
  if (spec.objective == Objective::over_refusal) {
    out = tok.encode(spec.refusal, /*add_special_tokens=*/false);
    if (!stops.empty()) tail = {stops.front()};  // a refusal ends the answer
  } else if (spec.placement == Placement::start) {
    out = tok.encode(spec.phrase, false);
    out.insert(out.end(), body.begin(), body.end());
  } else {
    std::string text = tok.decode(body, /*skip_special_tokens=*/true);
    const auto dot = text.find(". ");
    if (dot == std::string::npos) text += " " + spec.phrase;
    else text.insert(dot + 2, spec.phrase + " ");
    out = tok.encode(text, false);
  }
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

std::vector<Example> make_examples(const std::vector<std::vector<std::int64_t>>& prompts,
                                   const std::vector<std::vector<std::int64_t>>& responses) {
  std::vector<Example> out;
  for (std::size_t i = 0; i < prompts.size() && i < responses.size(); ++i) out.push_back({prompts[i], responses[i]});
  return out;
}

}  // namespace qrun::attack
