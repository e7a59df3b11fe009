// qrun attack ATTACK.toml [--set key=value]... [--output DIR]
// The quantization-conditioned attack of Egashira et al. ("Exploiting LLM Quantization", NeurIPS
// 2024) end to end: injection fine-tune, boxes of the injected model under the target quantizers,
// PGD repair inside the boxes, then the behaviour, perplexity and KL of the full-precision,
// quantized and noise-defended versions. Writes attack.json, report.md and the injected and
// repaired model folders.
#include "cli/attack_config.hpp"
#include "cli/attack_pipeline.hpp"
#include "cli/command.hpp"
#include "registry/registry.hpp"
#include "runner/provenance.hpp"

#include <qrun/context.hpp>

#include <boost/program_options.hpp>
#include <c10/util/Exception.h>

#include <chrono>
#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun attack ATTACK.toml [--set key=value]... [--output DIR]";

std::string utc_stamp() {
  std::string s = runner::utc_timestamp(std::chrono::system_clock::now());
  for (char& ch : s)
    if (ch == ':') ch = '-';
  return s;
}

Result<int> attack(const po::variables_map& vm, const GlobalOptions& global) {
  Registry registry = load_registry(global);
  const std::vector<std::string> overrides = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto config = load_attack_config(vm["attack"].as<std::string>(), overrides, registry);
  if (!config) return config.error();
  const std::filesystem::path out = vm.count("output")       ? std::filesystem::path(vm["output"].as<std::string>())
                                    : config->output_dir ? *config->output_dir
                                                         : std::filesystem::path("reports") / (config->name + "-" + utc_stamp());
  const std::string device = std::get<std::string>(config->model.at("device"));
  auto ctx = make_default_context(config->seed, c10::Device(device == "auto" ? "cpu" : device));
  auto result = run_attack(*config, registry, *ctx, out);
  if (!result) return result.error();
  std::cout << attack_markdown(*result) << "\nwrote " << (out / "attack.json").string() << ", " << (out / "report.md").string()
            << ", " << (out / "repaired").string() << "\n";
  bool all_ok = true;
  for (const auto& a : (*result)["acceptance"])
    all_ok = all_ok && a["fp_ok"].get<bool>() && a["quantized_ok"].get<bool>() && a["codes_ok"].get<bool>();
  return all_ok ? 0 : 2;  // 2: ran, but the attack did not reach its thresholds
}

int run_attack_command(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun attack");
  desc.add_options()
      ("attack", po::value<std::string>()->value_name("ATTACK.toml"), "the attack file (experiments/attack_*.toml)")
      ("set", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(),
       "override a value before validation, e.g. --set model.path=/models/x --set repair.steps=50 (repeatable)")
      ("output", po::value<std::string>()->value_name("DIR"), "output folder (default: experiment.output_dir, else reports/<name>-<UTC time>/)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("attack", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun attack", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "Builds a quantization-conditioned model and evaluates it and the noise defense: " << kUsage << "\n\n"
              << desc << "\nExit code 2: the run finished but the attack missed a threshold (see report.md).\n";
    return 0;
  }
  if (!vm.count("attack")) return report_error(Error{"qrun attack", "no attack file given", std::string("usage: ") + kUsage});
  return run_reporting_errors("qrun attack", [&]() -> int {
    auto r = attack(vm, global);
    if (!r) return report_error(r.error());
    return *r;
  });
}

}  // namespace

QRUN_CLI_COMMAND(cmd_attack, {"attack", "Build a quantization-conditioned (attacked) model and test the noise defense",
                              kUsage, run_attack_command});

}  // namespace qrun::cli
