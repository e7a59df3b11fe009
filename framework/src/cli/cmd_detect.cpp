// qrun detect: does a full-precision checkpoint hold dequantized bitsandbytes weights (NF4/FP4
// blocks, LLM.int8 rows)? Per linear layer: the best-fitting scheme, its fit rate and the rate a
// Gaussian reference of the same shape reaches by chance; then the verdict
// (qrun/forensics/dequant_detector.hpp states the rule). Exit 0 whenever a verdict is printed.
//   qrun detect --model M [--json] [--max-values N] [--seed S] [--fit-threshold F] [--chance-ceiling F]
#include "cli/command.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/forensics/dequant_detector.hpp>

#include <boost/program_options.hpp>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun detect --model M [--json] [--max-values N] [--seed S] [--fit-threshold F] [--chance-ceiling F]";

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s;
  for (std::int64_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

void print_text(const std::string& model, const forensics::DetectionReport& r) {
  std::size_t width = 5;
  for (const auto& l : r.layers) width = std::max(width, l.name.size());
  std::cout << "qrun detect " << model << ": " << r.layers.size() << " linear layers\n\n";
  std::printf("%-*s  %-10s %-8s %-10s %-20s %-20s %-16s %s\n", static_cast<int>(width), "layer", "shape", "format",
              "best fit", "units fit (chance)", "values fit (chance)", "distinct/unit", "flagged");
  for (const auto& l : r.layers) {
    const auto* b = l.best_evidence();
    const std::string units = b ? pct(b->observed.unit_rate()) + " (" + pct(b->chance.unit_rate()) + ")" : "-";
    const std::string values = b ? pct(b->observed.element_rate()) + " (" + pct(b->chance.element_rate()) + ")" : "-";
    char distinct[32] = "-";
    if (b) std::snprintf(distinct, sizeof distinct, "%.1f (max %lld)", b->observed.mean_distinct(),
                         static_cast<long long>(b->observed.distinct_max));
    std::printf("%-*s  %-10s %-8s %-10s %-20s %-20s %-16s %s\n", static_cast<int>(width), l.name.c_str(),
                shape_text(l.shape).c_str(), std::string(to_string(l.effective_dtype)).c_str(),
                b ? forensics::short_name(b->candidate).c_str() : "untested", units.c_str(), values.c_str(), distinct,
                l.flagged ? "yes" : "no");
  }
  std::int64_t quantized = 0;
  for (const auto& l : r.layers) quantized += l.kind != "dense";
  if (quantized > 0)
    std::cout << "\nnote: " << quantized << " layers are stored quantized (see --json's kind); the weights examined are "
              << "their dequantized values, so they fit by construction.\n";
  std::cout << "\nverdict: " << r.verdict.text() << "\n\nrule: " << forensics::decision_rule(r.config)
            << "\n(chance) = the same test on Gaussian weights of the layer's shape, std and format.\n";
}

int detect(const po::variables_map& vm, const GlobalOptions& global) {
  c10::InferenceMode guard;
  forensics::DetectorConfig config;
  config.max_values = vm["max-values"].as<std::int64_t>();
  config.seed = vm["seed"].as<std::uint64_t>();
  config.fit_threshold = vm["fit-threshold"].as<double>();
  config.chance_ceiling = vm["chance-ceiling"].as<double>();
  if (auto c = forensics::check_config(config, "qrun detect"); !c) {
    Error e = c.error();  // "qrun detect.fit_threshold" -> "--fit-threshold"
    const auto dot = e.thing.find('.');
    if (dot != std::string::npos) {
      std::string option = e.thing.substr(dot + 1);
      std::replace(option.begin(), option.end(), '_', '-');
      e.thing = "--" + option;
    }
    return report_error(e);
  }
  const std::string model_ref = vm["model"].as<std::string>();
  Registry registry = load_registry(global);
  auto backend = registry.make_backend("hf", {{"path", model_ref}, {"dtype", "auto"}, {"device", "cpu"}});
  if (!backend) return report_error(backend.error().within("--model"));
  auto ctx = make_default_context(config.seed, c10::Device(c10::kCPU));
  Result<std::unique_ptr<Model>> model = Error{"--model", "was not loaded", ""};
  try {
    model = (*backend)->load(*ctx);
  } catch (const ErrorException& e) {
    return report_error(e.error());
  }
  if (!model) return report_error(model.error());
  auto report = forensics::detect_dequantized(**model, config);
  if (!report) return report_error(report.error());
  if (vm.count("json")) {
    nlohmann::json j = forensics::to_json(*report);
    j["model"] = model_ref;
    j["storage_dtype"] = std::string(to_string((*model)->storage_dtype()));
    std::cout << j.dump(1) << std::endl;
  } else {
    print_text(model_ref, *report);
  }
  return 0;
}

int run_detect(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun detect");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (loaded by the hf backend as stored)")
      ("json", "print the evidence as JSON instead of a table")
      ("max-values", po::value<std::int64_t>()->value_name("N")->default_value(forensics::kDefaultMaxValues),
       "values examined per layer and scheme, whole blocks/rows evenly sampled (0: all)")
      ("seed", po::value<std::uint64_t>()->value_name("S")->default_value(0), "seed of the Gaussian reference")
      ("fit-threshold", po::value<double>()->value_name("F")->default_value(forensics::kDefaultFitThreshold),
       "fraction of units that must fit to flag a layer")
      ("chance-ceiling", po::value<double>()->value_name("F")->default_value(forensics::kDefaultChanceCeiling),
       "highest fraction of the reference's units that may fit for a flag to count")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun detect", kUsage,
                                       "Detects weights produced by dequantizing a bitsandbytes model (NF4/FP4/LLM.int8)",
                                       {"model"}},
                                desc, vm))
    return *done;
  return run_reporting_errors("qrun detect", [&] { return detect(vm, global); });
}

}  // namespace

QRUN_CLI_COMMAND(cmd_detect, {"detect", "Detect a checkpoint whose weights were dequantized from NF4/FP4/LLM.int8",
                              kUsage, run_detect});

}  // namespace qrun::cli
