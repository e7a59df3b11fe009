// `qrun attack EXP.toml`: the attack file's tables, validated like plugin parameters (unknown keys
// with a nearest-name hint, types, ranges). Internal to the CLI.
#pragma once

#include <qrun/attack/attack_data.hpp>
#include <qrun/attack/train.hpp>
#include <qrun/error.hpp>
#include <qrun/params.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qrun {
class Registry;
}

namespace qrun::cli {

// A transform with validated parameters: "nf4" or "nf4:blocksize=128" in the file.
struct TransformUse {
  std::string name;
  ParamMap params;
  std::string label;  // as written, for variant names
};

struct AttackConfig {
  std::filesystem::path file;
  std::string name;
  std::uint64_t seed = 0;
  std::optional<std::filesystem::path> output_dir;
  ParamMap model;                          // the hf backend's parameters

  attack::ObjectiveSpec objective;
  std::vector<std::string> patterns;       // what counts as the behaviour in generations
  bool literal = false;
  std::filesystem::path train_prompts;
  std::int64_t answer_tokens = 48;
  std::int64_t max_prompt_tokens = 64;      // longer training prompts are left out (training cost ~ length^2)
  std::int64_t generation_batch = 16;
  std::string chat = "auto";
  std::vector<TransformUse> targets;       // quantizers whose codes the repair keeps

  attack::TrainConfig inject, repair;

  std::filesystem::path eval_prompts;
  std::int64_t max_new_tokens = 64;
  std::vector<TransformUse> quantizers;    // quantized versions evaluated (default: the targets)
  std::vector<double> noise_std;           // weight_noise before each quantizer
  std::string noise_mode = "absolute";
  std::int64_t noise_seed = 0;
  std::optional<std::filesystem::path> perplexity_data;
  ParamMap perplexity;                     // the perplexity plugin's parameters
  bool kl = true;                          // kl_divergence of each quantized variant vs the repaired fp model
  // Acceptance (issue 20): the repaired fp model <= max_fp_rate_pct, its target versions >=
  // min_quantized_rate_pct, and the defense at some std <= max_defended_rate_pct.
  double max_fp_rate_pct = 5, min_quantized_rate_pct = 50, max_defended_rate_pct = 10;
};

// Reads and validates `file` after applying `overrides` ("key.path=value", as `qrun run --set`).
// Plugin names and parameters are checked against `registry`.
Result<AttackConfig> load_attack_config(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                        const Registry& registry);

}  // namespace qrun::cli
