// Calibration for quantizers that look at activations (GPTQ, AWQ, ...): the token windows they run
// the model on, a record of where those tokens came from (for results.json), and a way to see the
// inputs of chosen linear layers during a forward pass through the public Model API only.
//
// Data. A calibration file is one of
//   * qrun's calibration JSON ({"schema": "qrun.calibration", "texts": [{"text": ...}, ...]},
//     datasets/README.md), * qrun's prompt suite JSON ({"schema": "qrun.prompt_suite", "prompts":
//     [{"prompt": ...}]}: the prompts), * a JSON list of strings, * any other file: plain UTF-8 text,
//     the whole file one text (e.g. WikiText-2's wiki.train.raw).
// Each text is tokenized on its own with the tokenizer's special tokens (datasets/README.md) and
// the token lists are concatenated into one stream, from which windows of seq_len tokens are cut:
//   Sampling::random_windows (GPTQ, IST-DASLab/gptq datautils.py get_wikitext2): n_samples windows
//     starting at i = random.randint(0, len - seq_len - 1) after random.seed(seed), with CPython's
//     own generator (MT19937 seeded by init_by_array, randint by rejection on getrandbits), so the
//     starts are the ones the reference draws on the same token stream. Windows may overlap.
//   Sampling::blocks (AWQ, mit-han-lab/llm-awq awq/utils/calib_data.py get_calib_dataset): texts
//     shuffled (CPython random.shuffle after random.seed(seed); the reference shuffles pile-val with
//     datasets' generator and drops texts over 512 tokens, which here would drop a whole text
//     file, so no text is dropped), concatenated and cut into consecutive blocks of seq_len; the
//     first n_samples blocks (all when fewer exist: the record says how many were used).
#pragma once

#include <qrun/error.hpp>
#include <qrun/model.hpp>
#include <qrun/tokenizer.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace qrun::calibration {

enum class Sampling { random_windows, blocks };
std::string_view to_string(Sampling s);  // "random_windows" (GPTQ), "blocks" (AWQ)

struct Spec {
  std::filesystem::path path;      // the calibration file
  std::int64_t n_samples = 128;    // windows wanted
  std::int64_t seq_len = 2048;     // tokens per window
  std::uint64_t seed = 0;          // GPTQ's --seed default 0
  Sampling sampling = Sampling::random_windows;
};

// What the quantizer puts into its TransformReport details ("calibration"): provenance of the data.
struct Record {
  std::string path, sha256, format;  // format: "qrun.calibration", "qrun.prompt_suite", "json_list", "text"
  std::int64_t texts = 0;            // texts read from the file
  std::int64_t stream_tokens = 0;    // tokens in the concatenated stream
  std::int64_t n_samples = 0;        // windows asked for
  std::int64_t windows = 0;          // windows produced
  std::int64_t seq_len = 0;
  std::int64_t tokens = 0;           // windows * seq_len
  std::uint64_t seed = 0;
  Sampling sampling = Sampling::random_windows;
  nlohmann::json to_json() const;
};

struct Data {
  at::Tensor windows;  // [windows, seq_len] int64 token ids (CPU)
  Record record;
};

// The texts of a calibration file and its format name (see the top of this file).
Result<std::pair<std::vector<std::string>, std::string>> read_texts(const std::filesystem::path& path);

// Reads, tokenizes and samples. Errors: missing or malformed file, no text, n_samples or seq_len
// < 1, a stream too short for one window (the fix names a smaller seq_len or a larger file).
Result<Data> load(const Spec& spec, const Tokenizer& tokenizer);

// CPython's `random` module (Mersenne Twister MT19937 as _randommodule.c seeds and draws it), so
// sampling matches the reference scripts draw for draw.
class PyRandom {
 public:
  explicit PyRandom(std::uint64_t seed);                // random.seed(seed) for a non-negative int
  std::uint32_t genrand_uint32();
  std::uint64_t getrandbits(int k);                     // 1 <= k <= 64
  std::int64_t randbelow(std::int64_t n);               // _randbelow_with_getrandbits, n >= 1
  std::int64_t randint(std::int64_t a, std::int64_t b) { return a + randbelow(b - a + 1); }
  double random();                                      // random.random(): 53-bit float in [0, 1)
  template <class T>
  void shuffle(std::vector<T>& x) {                     // random.shuffle
    for (std::int64_t i = static_cast<std::int64_t>(x.size()) - 1; i > 0; --i)
      std::swap(x[static_cast<std::size_t>(i)], x[static_cast<std::size_t>(randbelow(i + 1))]);
  }

 private:
  std::uint32_t mt_[624];
  int index_ = 625;
};

// --- Seeing activations ---------------------------------------------------------------------

// Called for every forward of an observed layer with its input x [..., in] and output y [..., out]
// (compute dtype, model device).
using Sink = std::function<void(const at::Tensor& x, const at::Tensor& y)>;

struct Observer {
  std::string layer;  // a name of Model::linear_names()
  Sink sink;
};

struct RunOptions {
  std::int64_t batch_size = 8;  // windows per forward
  // Stop each forward right after the last observed layer (in linear_names() order) has run: the
  // rest of the network is not computed. (The observer throws a private exception that run()
  // catches; the model holds no state across a forward, so nothing is left half-done.)
  bool stop_after_last = true;
};

// Temporarily replaces each observed layer with a wrapper that passes input and output to its
// sink (the output is the wrapped layer's own forward), runs the model on `windows` in batches,
// then puts the original layers back (also on error). A layer observed twice is an error.
Result<void> run(Model& model, const at::Tensor& windows, const std::vector<Observer>& observers,
                 const RunOptions& options = {});

// The decoder layer index of a linear layer named "...layers.<i>...." , or -1.
std::int64_t decoder_layer_of(const std::string& linear_name);

}  // namespace qrun::calibration
