// A text file read, tokenized and cut into evaluation windows exactly as one published
// perplexity protocol does it (see eval_windows.hpp for the window rules):
//   sliding    Hugging Face perplexity doc: the file's lines as the HF `wikitext` rows joined with
//              "\n\n", tokenized once with the tokenizer's special tokens (add_special_tokens=True)
//   chunks     llama.cpp llama-perplexity: the file's bytes tokenized once with BOS when the
//              tokenizer adds one, BOS fed as each chunk's first token
//   documents  lm-evaluation-harness `wikitext`: lm-eval's document split, each page detokenized
//              and tokenized without special tokens, rolling windows with BOS (else EOS) as prefix
// Shared by the perplexity and kl_divergence metrics so both score identical tokens.
#pragma once

#include <qrun/error.hpp>
#include <qrun/eval_windows.hpp>
#include <qrun/model.hpp>
#include <qrun/params.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

namespace qrun {

struct CorpusParams {
  std::string protocol = "sliding";  // "sliding", "chunks", "documents"
  std::int64_t max_length = 0;       // sliding/documents window; 0: the model's max_position_embeddings
  std::int64_t stride = 0;           // sliding; 0: max_length / 2
  std::int64_t n_ctx = 512;          // chunks (llama-perplexity's default)
  std::int64_t max_tokens = 0;       // 0: all. sliding/chunks: the first max_tokens tokens;
                                     // documents: whole documents until max_tokens are reached
  std::string add_bos = "auto";      // "auto" (the protocol's rule), "always", "never"; sliding/chunks
};

struct CorpusDocument {   // documents protocol only
  std::int64_t words = 0;  // len(re.split(r"\s+", page)) of the page before detokenization
  std::int64_t bytes = 0;  // UTF-8 bytes of that page
  std::int64_t tokens = 0;
};

struct Corpus {
  std::vector<std::int64_t> ids;          // all scored material (documents: concatenated pages)
  std::vector<EvalWindow> windows;        // over `ids`; never crossing a document
  std::vector<std::int64_t> window_document;  // documents: the page each window belongs to
  std::vector<CorpusDocument> documents;  // documents: the pages used
  std::int64_t tokens_in_text = 0;        // before max_tokens (sliding/chunks), or all pages' tokens
  std::int64_t max_length = 0, stride = 0, n_ctx = 0;  // the effective values
  bool bos = false;                        // BOS added (sliding/chunks)
  std::int64_t prefix_token = -1;          // documents: the rolling prefix token
  std::string method;                      // one paragraph stating exactly the protocol used
  nlohmann::json details() const;          // effective parameters and counts
};

// Errors name the parameter ("perplexity.protocol", ...) or the file; `thing_prefix` replaces
// "perplexity" in them (e.g. "kl_divergence").
Result<Corpus> build_corpus(const Model& model, const std::filesystem::path& file, const CorpusParams& params,
                            const std::string& thing_prefix = "perplexity");

// The parameters of every metric that scores a corpus window by window (perplexity,
// kl_divergence): the corpus rules, the batch size and a cap on the windows for quick runs.
// A metric's parameter struct derives from it (and may change the default protocol in its
// constructor); window_schema declares the fields once for all of them.
struct WindowParams : CorpusParams {
  std::int64_t batch_size = 4;   // windows per forward pass
  std::int64_t max_windows = 0;  // 0: all; else the first max_windows windows (documents: whole
                                 // pages until at least that many windows)
};

// build_corpus, then only the first params.max_windows windows are kept (a reduced run, said so
// in Corpus::method; documents: whole pages until at least max_windows windows).
Result<Corpus> build_corpus(const Model& model, const std::filesystem::path& file, const WindowParams& params,
                            const std::string& thing_prefix = "perplexity");

// The schema of a WindowParams-derived Cfg: protocol (restricted to `protocols`, documented by
// `protocol_doc`), max_length, stride, n_ctx, batch_size, max_tokens, max_windows, add_bos, then
// the metric's own `extra` fields.
template <class Cfg, class... Extra>
Schema<Cfg> window_schema(std::vector<std::string> protocols, std::string protocol_doc, Extra... extra) {
  static_assert(std::is_base_of_v<WindowParams, Cfg>, "window_schema: Cfg must derive from qrun::WindowParams");
  using Str = Field<Cfg, std::string>;
  using Int = Field<Cfg, std::int64_t>;
  return Schema<Cfg>(
      Str("protocol", &Cfg::protocol).choices(std::move(protocols)).doc(std::move(protocol_doc)),
      Int("max_length", &Cfg::max_length).min(0).unit("tokens")
          .doc("sliding and documents: window length; 0 = the model's max_position_embeddings"),
      Int("stride", &Cfg::stride).min(0).unit("tokens").doc("sliding: window step; 0 = max_length / 2"),
      Int("n_ctx", &Cfg::n_ctx).min(4).unit("tokens").doc("chunks: chunk length (llama.cpp -c)"),
      Int("batch_size", &Cfg::batch_size).range(1, 4096).unit("windows").doc("windows per forward pass"),
      Int("max_tokens", &Cfg::max_tokens).min(0).unit("tokens")
          .doc("quick runs: 0 = the whole file; else only the first max_tokens tokens (documents: whole pages "
               "until reached); recorded in the method text"),
      Int("max_windows", &Cfg::max_windows).min(0).unit("windows")
          .doc("quick runs: 0 = all; else only the first max_windows windows (documents: whole pages until at "
               "least that many); recorded in the method text"),
      Str("add_bos", &Cfg::add_bos).choices({"auto", "always", "never"})
          .doc("sliding/chunks: auto = the protocol's rule (the tokenizer's own special tokens), or force BOS on/off"),
      std::move(extra)...);
}

}  // namespace qrun
