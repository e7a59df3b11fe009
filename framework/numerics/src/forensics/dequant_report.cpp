// The dequantization detector's rule text and JSON (qrun/forensics/dequant_detector.hpp).
#include <qrun/forensics/dequant_detector.hpp>

#include <sstream>

namespace qrun::forensics {
namespace {

std::string percent(double fraction) {
  std::ostringstream s;
  s << fraction * 100.0 << " %";
  return s.str();
}

nlohmann::json candidate_json(const Candidate& c) {
  nlohmann::json j = {{"scheme", std::string(to_string(c.scheme))}, {"name", short_name(c)}};
  if (c.scheme != GridScheme::int8) j["blocksize"] = c.blocksize;
  return j;
}

}  // namespace

std::string decision_rule(const DetectorConfig& c) {
  std::ostringstream s;
  s << "Each linear weight is cut into units (LLM.int8: rows; NF4/FP4: blocks of 32..4096 consecutive "
       "values), each unit scaled by its own max |w|. A unit fits a scheme when every value equals a code-book "
       "value times that scale within the rounding of the weight's effective storage format (half an ulp of "
       "the value, plus |code| times half an ulp of the scale, plus 8 float32 ulps). A scheme is tested on a "
       "layer when the layer gives it at least "
    << c.min_units << " non-zero units ("
    << (c.max_values > 0 ? "evenly sampled down to about " + std::to_string(c.max_values) + " values, at least " +
                               std::to_string(c.min_units) + " units"
                         : std::string("all of them"))
    << "). A layer is flagged when its best scheme fits at least " << percent(c.fit_threshold)
    << " of the units and the same test fits at most " << percent(c.chance_ceiling)
    << " of the units of a Gaussian reference with the layer's shape, std and storage format (seed " << c.seed
    << "). The model is called dequantized with the scheme flagged on most layers when any layer is flagged, "
       "otherwise 'no evidence'.";
  return s.str();
}

nlohmann::json to_json(const FitCounts& f) {
  nlohmann::json j = {{"units", f.units},
                      {"degenerate_units", f.degenerate_units},
                      {"fitting_units", f.fitting_units},
                      {"unit_fit_rate", f.unit_rate()},
                      {"elements", f.elements},
                      {"fitting_elements", f.fitting_elements},
                      {"element_fit_rate", f.element_rate()}};
  if (f.distinct_max > 0) {
    j["mean_distinct_per_unit"] = f.mean_distinct();
    j["max_distinct_per_unit"] = f.distinct_max;
  }
  return j;
}

nlohmann::json to_json(const LayerEvidence& l) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const CandidateEvidence& c : l.tested) {
    nlohmann::json j = candidate_json(c.candidate);
    j["observed"] = to_json(c.observed);
    j["chance"] = to_json(c.chance);
    candidates.push_back(std::move(j));
  }
  nlohmann::json j = {{"name", l.name},
                      {"kind", l.kind},
                      {"shape", l.shape},
                      {"effective_dtype", std::string(to_string(l.effective_dtype))},
                      {"flagged", l.flagged},
                      {"best", nullptr},
                      {"candidates", std::move(candidates)}};
  if (const CandidateEvidence* b = l.best_evidence()) j["best"] = short_name(b->candidate);
  return j;
}

nlohmann::json to_json(const DetectionReport& r) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const Candidate& c : r.config.candidates) candidates.push_back(short_name(c));
  nlohmann::json verdict = {{"dequantized", r.verdict.dequantized},
                            {"text", r.verdict.text()},
                            {"scheme", nullptr},
                            {"flagged_layers", r.verdict.flagged_layers},
                            {"other_flagged_layers", r.verdict.other_flagged_layers},
                            {"tested_layers", r.verdict.tested_layers}};
  if (r.verdict.candidate) verdict["scheme"] = candidate_json(*r.verdict.candidate);
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerEvidence& l : r.layers) layers.push_back(to_json(l));
  return {{"verdict", std::move(verdict)},
          {"rule", decision_rule(r.config)},
          {"config",
           {{"max_values", r.config.max_values},
            {"min_units", r.config.min_units},
            {"fit_threshold", r.config.fit_threshold},
            {"chance_ceiling", r.config.chance_ceiling},
            {"seed", r.config.seed},
            {"candidates", std::move(candidates)}}},
          {"layers", std::move(layers)}};
}

}  // namespace qrun::forensics
