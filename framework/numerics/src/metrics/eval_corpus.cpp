#include <qrun/eval_corpus.hpp>
#include <qrun/wikitext.hpp>

#include <fstream>
#include <sstream>

namespace qrun {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

Result<std::string> read_file(const std::filesystem::path& file, const std::string& thing) {
  std::ifstream f(file, std::ios::binary);
  if (!f)
    return Error{file.string(), "cannot be opened", "check the dataset path (" + thing + " needs a text file such as wiki.test.raw)",
                 std::filesystem::exists(file) ? ErrorCode::io : ErrorCode::not_found};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Whether the tokenizer's post-processor prepends BOS (llama.cpp: llama_vocab_get_add_bos).
bool tokenizer_adds_bos(const Tokenizer& tok) {
  const auto bos = tok.bos_id();
  if (!bos) return false;
  const auto with = tok.encode("a", true), without = tok.encode("a", false);
  return with.size() == without.size() + 1 && with.front() == *bos;
}

Error rename(Error e, const std::string& prefix) {
  if (prefix != "perplexity" && e.thing.rfind("perplexity", 0) == 0) e.thing = prefix + e.thing.substr(10);
  return e;
}

}  // namespace

nlohmann::json Corpus::details() const {
  nlohmann::json j = {{"tokens_in_text", tokens_in_text},
                      {"tokens_used", static_cast<std::int64_t>(ids.size())},
                      {"windows", static_cast<std::int64_t>(windows.size())}};
  std::int64_t scored = 0;
  for (const auto& w : windows) scored += w.n_targets();
  j["tokens_scored"] = scored;
  if (max_length) j["max_length"] = max_length;
  if (stride) j["stride"] = stride;
  if (n_ctx) j["n_ctx"] = n_ctx;
  if (!documents.empty()) {
    j["documents"] = static_cast<std::int64_t>(documents.size());
    j["prefix_token"] = prefix_token;
  } else {
    j["bos"] = bos;
  }
  return j;
}

namespace {

// The first max_windows of sliding/chunks windows (0: all), said in the method text.
void keep_first_windows(Corpus& c, std::int64_t max_windows) {
  const auto all = static_cast<std::int64_t>(c.windows.size());
  if (max_windows == 0 || all <= max_windows) return;
  c.windows.resize(static_cast<std::size_t>(max_windows));
  c.method += " Reduced run: only the first " + str(max_windows) + " of these " + str(all) + " windows were scored (max_windows).";
}

Result<Corpus> build(const Model& model, const std::filesystem::path& file, const CorpusParams& p,
                     std::int64_t max_windows, const std::string& thing) {
  const Tokenizer& tok = model.tokenizer();
  const ModelConfig& cfg = model.config();
  if (p.protocol != "sliding" && p.protocol != "chunks" && p.protocol != "documents")
    return Error{thing + ".protocol", "\"" + p.protocol + "\" is not a protocol", "use sliding, chunks or documents"};
  if (p.add_bos != "auto" && p.add_bos != "always" && p.add_bos != "never")
    return Error{thing + ".add_bos", "\"" + p.add_bos + "\" is not a policy", "use auto, always or never"};
  if (p.protocol == "documents" && p.add_bos != "auto")
    return Error{thing + ".add_bos", "the documents protocol feeds no BOS of its own (lm-eval adds no special tokens)",
                 "leave add_bos = \"auto\" with protocol = \"documents\""};
  if (p.max_tokens < 0) return Error{thing + ".max_tokens", "is negative", "use 0 (all) or a positive count"};
  if (max_windows < 0) return Error{thing + ".max_windows", "is negative", "use 0 (all) or a positive count"};
  auto raw = read_file(file, thing);
  if (!raw) return raw.error();

  Corpus c;
  const std::string cut = p.max_tokens ? " (reduced run: the first " + str(p.max_tokens) + " tokens only, max_tokens)" : "";
  if (p.protocol == "sliding" || p.protocol == "chunks") {
    const auto bos = tok.bos_id();
    if (p.add_bos == "always" && !bos)
      return Error{thing + ".add_bos", "the tokenizer has no BOS token", "use add_bos = \"auto\" or \"never\""};
    const bool sliding = p.protocol == "sliding";
    // sliding: HF rows joined with "\n\n" (Python reads the file with universal newlines);
    // chunks: llama.cpp reads the file's bytes unchanged.
    const std::string text = sliding ? wikitext::hf_joined(wikitext::universal_newlines(*raw)) : *raw;
    bool special = p.add_bos == "auto";
    c.bos = p.add_bos == "always" || (p.add_bos == "auto" && tokenizer_adds_bos(tok));
    std::vector<std::int64_t> ids;
    if (sliding && special) {
      ids = tok.encode(text, true);  // tokenizer(text): special tokens as the tokenizer adds them
    } else {
      ids = tok.encode(text, false);
      if (c.bos) ids.insert(ids.begin(), *bos);
    }
    c.tokens_in_text = static_cast<std::int64_t>(ids.size());
    if (p.max_tokens && static_cast<std::int64_t>(ids.size()) > p.max_tokens) ids.resize(static_cast<std::size_t>(p.max_tokens));
    c.ids = std::move(ids);
    const auto n = static_cast<std::int64_t>(c.ids.size());
    if (sliding) {
      c.max_length = p.max_length ? p.max_length : cfg.max_position_embeddings;
      c.stride = p.stride ? p.stride : c.max_length / 2;
      auto ws = plan_sliding(n, c.max_length, c.stride);
      if (!ws) return rename(ws.error(), thing);
      c.windows = std::move(*ws);
      c.method = "Hugging Face \"Perplexity of fixed-length models\" (transformers docs): the file's lines as the HF "
                 "wikitext rows (newline kept, whitespace-only lines empty) joined with \"\\n\\n\", tokenized once " +
                 std::string(special ? "with the tokenizer's special tokens" : (c.bos ? "with BOS prepended" : "without BOS")) +
                 " (" + str(c.tokens_in_text) + " tokens)" + cut + "; windows of max_length=" + str(c.max_length) +
                 " every stride=" + str(c.stride) + " tokens, each scoring only its tokens after the previous window's "
                 "end (the first window's first token is never scored); " + str(static_cast<std::int64_t>(c.windows.size())) +
                 " windows.";
    } else {
      c.n_ctx = p.n_ctx;
      auto ws = plan_chunks(n, c.n_ctx, c.bos ? bos : std::nullopt);
      if (!ws) return rename(ws.error(), thing);
      c.windows = std::move(*ws);
      c.method = "llama.cpp llama-perplexity (tools/perplexity/perplexity.cpp): the file's bytes tokenized once " +
                 std::string(c.bos ? "with BOS" : "without BOS") + " (" + str(c.tokens_in_text) + " tokens)" + cut + "; " +
                 str(static_cast<std::int64_t>(c.windows.size())) + " non-overlapping chunks of n_ctx=" + str(c.n_ctx) +
                 (c.bos ? " with BOS fed as each chunk's first token" : "") + ", scoring only the last " +
                 str(c.n_ctx - 1 - c.n_ctx / 2) + " tokens of each chunk (positions n_ctx/2+1 .. n_ctx-1).";
    }
    keep_first_windows(c, max_windows);
    return c;
  }

  // documents: lm-evaluation-harness wikitext (wikitext_document_level pages, rolling loglikelihood).
  const auto prefix = tok.bos_id() ? tok.bos_id() : tok.eos_id();
  if (!prefix)
    return Error{thing + ".protocol", "documents needs a BOS or EOS token as the rolling prefix, the tokenizer has neither",
                 "use protocol = \"sliding\" or \"chunks\""};
  c.prefix_token = *prefix;
  c.max_length = p.max_length ? p.max_length : cfg.max_position_embeddings;
  const auto pages = wikitext::documents(wikitext::universal_newlines(*raw));
  std::int64_t all_tokens = 0;
  for (std::size_t d = 0; d < pages.size(); ++d) {
    if (p.max_tokens && static_cast<std::int64_t>(c.ids.size()) >= p.max_tokens) break;
    if (max_windows && static_cast<std::int64_t>(c.windows.size()) >= max_windows) break;
    const auto ids = tok.encode(wikitext::detokenize(pages[d]), false);
    const auto n = static_cast<std::int64_t>(ids.size());
    auto ws = plan_rolling(n, c.max_length, c.prefix_token);
    if (!ws) return rename(ws.error(), thing);
    const auto offset = static_cast<std::int64_t>(c.ids.size());
    for (EvalWindow w : *ws) {
      w.begin += offset;
      w.end += offset;
      w.target_begin += offset;
      w.target_end += offset;
      c.windows.push_back(w);
      c.window_document.push_back(static_cast<std::int64_t>(c.documents.size()));
    }
    c.ids.insert(c.ids.end(), ids.begin(), ids.end());
    c.documents.push_back({wikitext::python_split_words(pages[d]), static_cast<std::int64_t>(pages[d].size()), n});
    all_tokens += n;
  }
  c.tokens_in_text = all_tokens;
  c.method = "lm-evaluation-harness wikitext task: the file split into pages as EleutherAI/wikitext_document_level "
             "(a new page at each level-1 heading), " + str(static_cast<std::int64_t>(c.documents.size())) + " of " +
             str(static_cast<std::int64_t>(pages.size())) + " pages used" + (p.max_tokens ? " (reduced run: max_tokens=" + str(p.max_tokens) + ")" : "") +
             (max_windows ? " (reduced run: whole pages until max_windows=" + str(max_windows) + " windows)" : "") +
             "; each page detokenized by wikitext_detokenizer, tokenized without special tokens, and scored by rolling "
             "log-likelihood (windows of max_length=" + str(c.max_length) + ", the first fed after prefix token " +
             str(c.prefix_token) + ", every token scored once); word_perplexity = exp(-Σ ll / Σ words), "
             "byte_perplexity = exp(-Σ ll / Σ bytes), bits_per_byte = -Σ ll / Σ bytes / ln 2, with words = "
             "len(re.split(r\"\\s+\", page)) and bytes = UTF-8 bytes of the page before detokenization.";
  return c;
}

}  // namespace

Result<Corpus> build_corpus(const Model& model, const std::filesystem::path& file, const CorpusParams& params,
                            const std::string& thing_prefix) {
  return build(model, file, params, 0, thing_prefix);
}

Result<Corpus> build_corpus(const Model& model, const std::filesystem::path& file, const WindowParams& params,
                            const std::string& thing_prefix) {
  return build(model, file, params, params.max_windows, thing_prefix);
}

}  // namespace qrun
