// Rendering and generating the suite's prompts.
#include "suite_generation.hpp"

#include <chrono>

namespace qrun::prompt_suite {

Result<bool> resolve_chat(const std::string& chat, const Tokenizer& tokenizer) {
  if (chat == "off") return false;
  if (chat == "auto") return tokenizer.has_chat_template();
  if (chat == "on") {
    if (!tokenizer.has_chat_template())
      return Error{"prompt_suite.chat", "is \"on\" but the model's tokenizer has no supported chat template",
                   "use chat = \"auto\" or \"off\" for base models", ErrorCode::unsupported};
    return true;
  }
  return Error{"prompt_suite.chat", "\"" + chat + "\" is not auto, on or off", "use auto, on or off"};
}

Result<std::vector<std::vector<std::int64_t>>> render_prompts(const Model& model, const std::vector<Prompt>& prompts,
                                                              bool chat, std::int64_t max_new_tokens) {
  const Tokenizer& tok = model.tokenizer();
  const std::int64_t max_positions = model.config().max_position_embeddings;
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(prompts.size());
  for (const auto& p : prompts) {
    std::vector<std::int64_t> ids;
    if (chat) {
      auto text = tok.apply_chat_template({ChatMessage{"user", p.text}}, /*add_generation_prompt=*/true);
      if (!text) return text.error().within("prompt " + p.id + ":", " ");
      ids = tok.encode(*text, /*add_special_tokens=*/false);
    } else {
      ids = tok.encode(p.text, /*add_special_tokens=*/true);
    }
    if (ids.empty())
      return Error{"prompt " + p.id, "encodes to no tokens", "check the tokenizer and the prompt text"};
    const auto needed = static_cast<std::int64_t>(ids.size()) + max_new_tokens;
    if (max_positions > 0 && needed > max_positions)
      return Error{"prompt " + p.id,
                   std::to_string(ids.size()) + " prompt tokens + max_new_tokens " + std::to_string(max_new_tokens) +
                       " exceed the model's max_position_embeddings " + std::to_string(max_positions),
                   "lower max_new_tokens or leave this category out"};
    out.push_back(std::move(ids));
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// One generate() call over prompts [begin, end); fills `run` on success.
Result<void> generate_batch(Model& model, const std::vector<Prompt>& prompts,
                            const std::vector<std::vector<std::int64_t>>& prompt_ids, std::size_t begin,
                            std::size_t end, const GenerationConfig& config, GenerationRun& run) {
  std::vector<std::vector<std::int64_t>> batch(prompt_ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                               prompt_ids.begin() + static_cast<std::ptrdiff_t>(end));
  const auto t0 = Clock::now();
  auto generations = model.generate(batch, config);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!generations) return generations.error();
  if (generations->size() != batch.size())
    return Error{"Model::generate", "returned " + std::to_string(generations->size()) + " generations for " +
                                        std::to_string(batch.size()) + " prompts",
                 "fix the backend", ErrorCode::internal};
  GenerateCall call{prompts[begin].category, seconds, 0};
  for (std::size_t i = begin; i < end; ++i) {
    Generation& g = (*generations)[i - begin];
    PromptRun& r = run.prompts[i];
    r.ok = true;
    r.error.clear();
    r.tokens = std::move(g.tokens);
    r.stopped_on_eos = g.stopped_on_eos;
    r.text = model.tokenizer().decode(r.tokens, /*skip_special_tokens=*/true);
    r.seconds = seconds;
    r.prefill_seconds = g.prefill_seconds;
    r.decode_seconds = g.decode_seconds;
    call.new_tokens += static_cast<std::int64_t>(r.tokens.size());
  }
  run.calls.push_back(call);
  return {};
}

}  // namespace

GenerationRun generate_all(Model& model, const std::vector<Prompt>& prompts,
                           const std::vector<std::vector<std::int64_t>>& prompt_ids,
                           const GenerationConfig& config, std::int64_t batch_size, RunContext& ctx,
                           const std::string& label) {
  GenerationRun run;
  run.prompts.resize(prompts.size());
  auto progress = ctx.progress(label, static_cast<std::int64_t>(prompts.size()));
  std::size_t begin = 0;
  while (begin < prompts.size()) {
    std::size_t end = begin + 1;
    while (end < prompts.size() && static_cast<std::int64_t>(end - begin) < batch_size &&
           prompts[end].category == prompts[begin].category)
      ++end;
    auto batch = generate_batch(model, prompts, prompt_ids, begin, end, config, run);
    if (!batch) {
      if (end - begin == 1) {
        run.prompts[begin].ok = false;
        run.prompts[begin].error = batch.error().message();
      } else {
        ctx.warn(label + ": a batch of " + std::to_string(end - begin) + " prompts failed (" +
                 batch.error().message() + "); retrying them one by one");
        for (std::size_t i = begin; i < end; ++i) {
          auto single = generate_batch(model, prompts, prompt_ids, i, i + 1, config, run);
          if (!single) {
            run.prompts[i].ok = false;
            run.prompts[i].error = single.error().message();
          }
        }
      }
    }
    progress->advance(static_cast<std::int64_t>(end - begin));
    begin = end;
  }
  progress->finish();
  return run;
}

}  // namespace qrun::prompt_suite
