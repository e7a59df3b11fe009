// Rendering and generating behavioural prompts (generation.hpp).
#include "generation.hpp"

#include <algorithm>

namespace qrun::behaviour {

Result<bool> resolve_chat(const std::string& chat, const Tokenizer& tokenizer, const std::string& thing) {
  if (chat == "off") return false;
  if (chat == "auto") return tokenizer.has_chat_template();
  if (chat == "on") {
    if (!tokenizer.has_chat_template())
      return Error::of(ErrorCode::unsupported, thing + ".chat", "is \"on\" but the model's tokenizer has no chat template",
                       "use chat = \"auto\" or \"off\" for base models");
    return true;
  }
  return Error{thing + ".chat", "\"" + chat + "\" is not auto, on or off", "use auto, on or off"};
}

Result<std::vector<std::vector<std::int64_t>>> render_prompts(const Model& model, const std::vector<std::string>& texts,
                                                              bool chat, const std::string& system_prompt,
                                                              std::int64_t max_new_tokens, const std::string& thing) {
  const Tokenizer& tok = model.tokenizer();
  const std::int64_t max_positions = model.config().max_position_embeddings;
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::int64_t> ids;
    if (chat) {
      std::vector<ChatMessage> messages;
      if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
      messages.push_back({"user", texts[i]});
      auto text = tok.apply_chat_template(messages, /*add_generation_prompt=*/true);
      if (!text) return text.error().within(thing + " prompt " + std::to_string(i) + ":");
      ids = tok.encode(*text, /*add_special_tokens=*/false);
    } else {
      ids = tok.encode(system_prompt.empty() ? texts[i] : system_prompt + "\n\n" + texts[i], /*add_special_tokens=*/true);
    }
    if (ids.empty())
      return Error{thing + " prompt " + std::to_string(i), "encodes to no tokens", "check the tokenizer and the prompt"};
    const auto needed = static_cast<std::int64_t>(ids.size()) + max_new_tokens;
    if (max_positions > 0 && needed > max_positions)
      return Error{thing + " prompt " + std::to_string(i),
                   std::to_string(ids.size()) + " prompt tokens + max_new_tokens " + std::to_string(max_new_tokens) +
                       " exceed the model's max_position_embeddings " + std::to_string(max_positions),
                   "lower max_new_tokens or shorten the prompt"};
    out.push_back(std::move(ids));
  }
  return out;
}

Result<std::vector<std::vector<Output>>> generate_outputs(Model& model, const std::vector<std::vector<std::int64_t>>& ids,
                                                          const Decoding& d, RunContext& ctx, const std::string& label) {
  const std::int64_t samples = d.do_sample ? std::max<std::int64_t>(1, d.num_samples) : 1;
  std::vector<std::vector<Output>> out(static_cast<std::size_t>(samples), std::vector<Output>(ids.size()));
  auto progress = ctx.progress(label, samples * static_cast<std::int64_t>(ids.size()));
  for (std::int64_t s = 0; s < samples; ++s) {
    GenerationConfig g;
    g.max_new_tokens = d.max_new_tokens;
    g.do_sample = d.do_sample;
    g.temperature = d.temperature;
    g.top_p = d.top_p;
    g.top_k = d.top_k;
    g.seed = d.seed + static_cast<std::uint64_t>(s);
    const auto batch = static_cast<std::size_t>(std::max<std::int64_t>(1, d.batch_size));
    for (std::size_t begin = 0; begin < ids.size(); begin += batch) {
      const std::size_t end = std::min(ids.size(), begin + batch);
      std::vector<std::vector<std::int64_t>> prompts(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                                     ids.begin() + static_cast<std::ptrdiff_t>(end));
      auto gens = model.generate(prompts, g);
      if (!gens) return gens.error().within(label + ": prompts " + std::to_string(begin) + ".." + std::to_string(end - 1) + ":");
      if (gens->size() != prompts.size())
        return Error::of(ErrorCode::internal, "Model::generate", "returned " + std::to_string(gens->size()) +
                             " generations for " + std::to_string(prompts.size()) + " prompts", "fix the backend");
      for (std::size_t i = begin; i < end; ++i) {
        Output& o = out[static_cast<std::size_t>(s)][i];
        o.tokens = std::move((*gens)[i - begin].tokens);
        o.text = model.tokenizer().decode(o.tokens, /*skip_special_tokens=*/true);
      }
      progress->advance(static_cast<std::int64_t>(end - begin));
    }
  }
  progress->finish();
  return out;
}

std::string decode_first(const Model& model, const std::vector<std::int64_t>& tokens, std::int64_t n) {
  if (n <= 0 || static_cast<std::size_t>(n) >= tokens.size()) return model.tokenizer().decode(tokens, true);
  return model.tokenizer().decode(std::vector<std::int64_t>(tokens.begin(), tokens.begin() + n), true);
}

std::string truncate_utf8(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return text.substr(0, cut) + "…";
}

nlohmann::json to_json(const Decoding& d) {
  return {{"max_new_tokens", d.max_new_tokens}, {"batch_size", d.batch_size}, {"do_sample", d.do_sample},
          {"temperature", d.temperature},       {"top_p", d.top_p},           {"top_k", d.top_k},
          {"num_samples", d.do_sample ? d.num_samples : 1}, {"seed", d.seed}};
}

}  // namespace qrun::behaviour
