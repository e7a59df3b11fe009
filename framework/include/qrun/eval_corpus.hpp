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

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
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

}  // namespace qrun
