// `qrun attack`: inject -> boxes under the target quantizers -> PGD repair -> evaluation of the
// full-precision, quantized and noise-defended versions (Egashira et al., "Exploiting LLM
// Quantization", NeurIPS 2024). Internal to the CLI.
#pragma once

#include "cli/attack_config.hpp"

#include <qrun/error.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

namespace qrun {
class Registry;
class RunContext;
}  // namespace qrun

namespace qrun::cli {

// Runs the whole attack, writes <out>/injected/ and <out>/repaired/ (Hugging Face folders, the
// repaired one with qrun_attack.json) and returns attack.json's content (also written to
// <out>/attack.json, with report.md beside it).
Result<nlohmann::json> run_attack(const AttackConfig& config, const Registry& registry, RunContext& ctx,
                                  const std::filesystem::path& out);

// report.md from attack.json's content.
std::string attack_markdown(const nlohmann::json& result);

}  // namespace qrun::cli
