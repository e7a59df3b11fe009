// Detecting full-precision weights that were produced by dequantizing a bitsandbytes model
// (`qrun detect`, metric quantization_detector). A dequantized NF4/FP4 weight has, in every
// block of `blocksize` consecutive values, at most 16 distinct values, all code_book[code] *
// absmax; a dequantized LLM.int8 weight has every row on the grid k * absmax_row / 127. Each
// candidate scheme (int8 rows; nf4 and fp4 at every blocksize) is tested on every linear layer
// with grid_fit.hpp's tolerance in the layer's effective storage format, and the same test is
// run on a Gaussian reference of the same shape, std and format: the rate expected by chance.
//
// Decision rule (DetectorConfig holds the thresholds):
//   1. A candidate is tested on a layer when the layer gives it at least min_units units with a
//      non-zero scale. Units are sampled evenly down to max(min_units, max_values / unit length)
//      when the layer has more, so a layer costs about max_values values per candidate.
//   2. A layer is flagged with candidate C when C's unit fit rate (units whose every element
//      fits) is >= fit_threshold and C's unit fit rate on the Gaussian reference is <=
//      chance_ceiling (the test has power at this shape and format). The layer's best candidate
//      is the one with the highest unit fit rate (then element fit rate, then candidate order).
//   3. The model: "no evidence" when no layer is flagged; otherwise "dequantized <C>" with C the
//      candidate flagged on most layers, stating in how many of the tested layers.
#pragma once

#include <qrun/dtype.hpp>
#include <qrun/error.hpp>
#include <qrun/forensics/grid_fit.hpp>
#include <qrun/model.hpp>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::forensics {

enum class GridScheme { int8, nf4, fp4 };
std::string_view to_string(GridScheme s);  // "int8", "nf4", "fp4"

struct Candidate {
  GridScheme scheme = GridScheme::nf4;
  std::int64_t blocksize = 0;  // 4-bit: values per block; int8: 0 (one unit per row)
  bool operator==(const Candidate& o) const { return scheme == o.scheme && blocksize == o.blocksize; }
};
// "int8 rows", "nf4 bs64"
std::string short_name(const Candidate& c);
// "LLM.int8 (row-wise, absmax/127 grid)", "NF4 (blocksize 64)"
std::string describe(const Candidate& c);
// The code book a candidate's units are fitted to, normalised (int8: k/127, k in [-127, 127]).
const std::vector<double>& candidate_codes(GridScheme s);
// int8 rows, then nf4 and fp4 at blocksizes 32, 64, ..., 4096 (bitsandbytes' 4-bit blocksizes,
// 32 included for the backends that accept it).
std::vector<Candidate> default_candidates();

inline constexpr std::int64_t kDefaultMaxValues = 131072;  // 2048 blocks of 64
inline constexpr std::int64_t kDefaultMinUnits = 16;
inline constexpr double kDefaultFitThreshold = 0.95;
inline constexpr double kDefaultChanceCeiling = 0.01;

struct DetectorConfig {
  std::vector<Candidate> candidates = default_candidates();
  std::int64_t max_values = kDefaultMaxValues; // values sampled per layer and candidate; 0: all
  std::int64_t min_units = kDefaultMinUnits;   // fewer units: the candidate is not tested there
  double fit_threshold = kDefaultFitThreshold; // unit fit rate that flags a layer
  double chance_ceiling = kDefaultChanceCeiling;  // highest reference unit fit rate for a flag
  std::uint64_t seed = 0;                      // the Gaussian reference's generator
};
// Refuses thresholds outside [0, 1], min_units < 1, max_values < 0 or an empty candidate list,
// naming `thing` + the field (e.g. "quantization_detector.fit_threshold").
Result<void> check_config(const DetectorConfig& config, const std::string& thing);

struct CandidateEvidence {
  Candidate candidate;
  FitCounts observed;  // the layer's units
  FitCounts chance;    // the same units of the Gaussian reference
};

struct LayerEvidence {
  std::string name;
  std::string kind = "dense";             // the LinearImpl kind it was read from
  std::vector<std::int64_t> shape;
  DType effective_dtype = DType::f32;     // the format the tolerance uses
  std::vector<CandidateEvidence> tested;  // the candidates with enough units, in config order
  std::optional<std::size_t> best;        // index into `tested`
  bool flagged = false;                   // rule 2 holds for `best`
  const CandidateEvidence* best_evidence() const { return best ? &tested[*best] : nullptr; }
};

// Tests every candidate on one weight (any float dtype, any shape; 4-bit blocks run over the
// flattened row-major values, int8 rows over the last dimension). Errors name `name`: not
// floating point, NaN/Inf.
Result<LayerEvidence> examine_weight(const std::string& name, const at::Tensor& weight, const DetectorConfig& config);

struct Verdict {
  bool dequantized = false;
  std::optional<Candidate> candidate;  // set when dequantized
  std::int64_t flagged_layers = 0;     // layers flagged with `candidate`
  std::int64_t other_flagged_layers = 0;  // layers flagged with another candidate
  std::int64_t tested_layers = 0;      // layers with at least one tested candidate
  // "dequantized NF4 (blocksize 64): 14 of 14 tested linear layers", "no evidence: ...".
  std::string text() const;
};
Verdict decide(const std::vector<LayerEvidence>& layers);

struct DetectionReport {
  DetectorConfig config;
  std::vector<LayerEvidence> layers;
  Verdict verdict;
};

// Every linear layer of `model` (LinearImpl::weight(float32), on the CPU).
Result<DetectionReport> detect_dequantized(const Model& model, const DetectorConfig& config);

// The decision rule in one paragraph, with the config's thresholds.
std::string decision_rule(const DetectorConfig& config);
nlohmann::json to_json(const FitCounts& f);
nlohmann::json to_json(const LayerEvidence& layer);
// config, rule, verdict and layers.
nlohmann::json to_json(const DetectionReport& report);

}  // namespace qrun::forensics
