// qrun eval --model M --metric NAME [--param k=v]... [--transform NAME[:k=v,...]]... [--data FILE]
//           [--json] [--dtype D] [--device D] [--seed S]
// One metric on one model without an experiment file, as llama.cpp's perplexity tool is used:
// the model is loaded through the "hf" backend; with --transform the chain is applied, in the
// given order, to a clone, and the metric runs on that clone (comparison metrics such as
// kl_divergence compare it with the untransformed model, the baseline). Prints a table, or JSON.
#include "cli/command.hpp"
#include "registry/registry.hpp"
#include "results/results.hpp"
#include <qrun/sha256.hpp>

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <boost/program_options.hpp>
#include <c10/util/Exception.h>

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun eval --model M --metric NAME [--param key=value]... [--transform NAME[:key=value,...]]... "
    "[--data FILE] [--json] [--dtype D] [--device D] [--seed S]";

struct TransformStep {
  std::string name;
  ParamMap params;  // validated, defaults filled
};

nlohmann::json to_json(const ParamMap& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params) std::visit([&, key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

// key=value assignments typed by `info`'s schema; errors name `where`.
Result<ParamMap> parse_params(const ComponentInfo& info, const std::vector<std::string>& assignments,
                              const std::string& where) {
  ParamMap given;
  for (const std::string& a : assignments) {
    auto kv = parse_param_assignment(info.schema, a);
    if (!kv) return kv.error().within(where);
    given[kv->first] = kv->second;
  }
  auto validated = validate_params(info.schema, given);
  if (!validated) return validated.error().within(where);
  return *validated;
}

// "NAME[:k=v,k=v]" -> a validated transform step (values cannot contain commas here; use an
// experiment file for list values).
Result<TransformStep> parse_transform(const Registry& registry, const std::string& spec) {
  const auto colon = spec.find(':');
  TransformStep step{spec.substr(0, colon), {}};
  auto info = registry.find(step.name, Kind::transform);
  if (!info) return info.error().within("--transform " + spec + ":");
  std::vector<std::string> assignments;
  if (colon != std::string::npos) {
    std::string rest = spec.substr(colon + 1);
    for (std::size_t pos = 0; pos <= rest.size();) {
      const auto comma = rest.find(',', pos);
      const std::string a = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!a.empty()) assignments.push_back(a);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  auto params = parse_params(**info, assignments, "--transform " + step.name);
  if (!params) return params.error();
  step.params = std::move(*params);
  return step;
}

std::string format_number(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && std::abs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void print_table(const std::string& metric, const std::string& variant, const MetricResult& r) {
  std::printf("%s on %s\n", metric.c_str(), variant.c_str());
  std::printf("  %-28s %16s   %-12s %12s  %s\n", "value", "", "± stderr", "n", "unit");
  for (const MetricValue& v : r.values) {
    const std::string name = v.group.empty() ? v.name : v.group + "/" + v.name;
    const std::string se = v.stderr_ ? "± " + format_number(*v.stderr_) : "";
    std::printf("  %-28s %16s   %-12s %12lld  %s\n", name.c_str(), format_number(v.value).c_str(), se.c_str(),
                static_cast<long long>(v.n), v.unit.c_str());
  }
  std::printf("method: %s\n", r.method.c_str());
}

Result<int> eval(const po::variables_map& vm, const GlobalOptions& global) {
  Registry registry = load_registry(global);
  const std::string metric_name = vm["metric"].as<std::string>();
  auto metric_info = registry.find(metric_name, Kind::metric);
  if (!metric_info) return metric_info.error().within("--metric");
  const MetricSpec spec = (*metric_info)->metric;
  const auto param_args = vm.count("param") ? vm["param"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto metric_params = parse_params(**metric_info, param_args, "--param");
  if (!metric_params) return metric_params.error();
  std::vector<TransformStep> steps;
  if (vm.count("transform"))
    for (const std::string& spec_text : vm["transform"].as<std::vector<std::string>>()) {
      auto step = parse_transform(registry, spec_text);
      if (!step) return step.error();
      steps.push_back(std::move(*step));
    }
  std::optional<Dataset> dataset;
  if (vm.count("data")) {
    const std::filesystem::path path = vm["data"].as<std::string>();
    auto sha = sha256_file(path);
    if (!sha) return sha.error().within("--data");
    dataset = Dataset{path.stem().string(), path, *sha};
  } else if (spec.needs_dataset) {
    return Error{"--data", "metric " + metric_name + " needs a dataset", "pass --data FILE (e.g. wiki.test.raw)"};
  }

  auto metric = registry.make_metric(metric_name, *metric_params);
  if (!metric) return metric.error();
  const std::string device = vm["device"].as<std::string>();
  const ParamMap backend_params{{"path", vm["model"].as<std::string>()},
                                {"dtype", vm["dtype"].as<std::string>()},
                                {"device", device}};
  auto backend = registry.make_backend(vm["backend"].as<std::string>(), backend_params);
  if (!backend) return backend.error().within("--model");
  auto ctx = make_default_context(vm["seed"].as<std::uint64_t>(), c10::Device(device == "auto" ? "cpu" : device));
  auto base = (*backend)->load(*ctx);
  if (!base) return base.error();

  std::unique_ptr<Model> transformed;
  nlohmann::json transform_json = nlohmann::json::array();
  if (!steps.empty()) {
    auto clone = (*base)->clone();
    if (!clone) return clone.error();
    transformed = std::move(*clone);
    for (const TransformStep& step : steps) {
      auto t = registry.make_transform(step.name, step.params);
      if (!t) return t.error();
      auto report = (*t)->apply(*transformed, *ctx);
      if (!report) return report.error().within("transform " + step.name + ":");
      ctx->info(step.name + ": " + report->summary);
      transform_json.push_back({{"use", step.name}, {"params", to_json(step.params)}, {"summary", report->summary},
                                {"details", report->details}});
    }
  }

  MetricInputs inputs;
  inputs.baseline = base->get();
  const std::string variant_name = transformed ? "transformed" : "baseline";
  inputs.variants.push_back(VariantModel{variant_name, transformed ? transformed.get() : base->get(), !transformed});
  if (dataset) inputs.dataset = &*dataset;
  auto results = (*metric)->evaluate(inputs, *ctx);
  if (!results) return results.error().within("metric " + metric_name + ":");
  if (results->size() != 1)
    return Error{"metric " + metric_name, "returned " + std::to_string(results->size()) + " results for 1 variant",
                 "fix the metric plugin"};
  const MetricResult& r = results->front();

  if (vm.count("json")) {
    nlohmann::json j = {{"model", vm["model"].as<std::string>()},
                        {"metric", metric_name},
                        {"params", to_json(*metric_params)},
                        {"transforms", transform_json},
                        {"variant", variant_name},
                        {"compute_dtype", std::string(to_string(inputs.variants[0].model->compute_dtype()))},
                        {"storage_dtype", std::string(to_string(inputs.variants[0].model->storage_dtype()))},
                        {"result", qrun::to_json(r)}};
    if (dataset) j["dataset"] = {{"path", dataset->path.string()}, {"sha256", dataset->sha256}};
    std::cout << j.dump(1) << std::endl;
  } else {
    print_table(metric_name, variant_name + (steps.empty() ? "" : " (" + std::to_string(steps.size()) + " transforms)"), r);
  }
  return 0;
}

int run_eval(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun eval");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (ORG/NAME)")
      ("backend", po::value<std::string>()->default_value("hf")->value_name("B"),
       "backend plugin that loads --model (e.g. gguf_file for a .gguf file; qrun plugins lists them)")
      ("metric", po::value<std::string>()->value_name("NAME"), "metric plugin (qrun plugins lists them)")
      ("param", po::value<std::vector<std::string>>()->value_name("K=V")->composing(), "metric parameter (repeatable)")
      ("transform", po::value<std::vector<std::string>>()->value_name("NAME[:K=V,...]")->composing(),
       "transform applied to a clone of the model, in the given order (repeatable)")
      ("data", po::value<std::string>()->value_name("FILE"), "dataset file for metrics that need one")
      ("json", "print JSON instead of a table")
      ("dtype", po::value<std::string>()->value_name("D")->default_value("auto"), "float32, bfloat16, float16 or auto")
      ("device", po::value<std::string>()->value_name("D")->default_value("cpu"), "cpu, cuda or cuda:N")
      ("seed", po::value<std::uint64_t>()->value_name("S")->default_value(0), "seed handed to plugins")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun eval", kUsage, "Runs one metric on one model", {"model", "metric"}}, desc, vm)) return *done;
  try {
    auto r = eval(vm, global);
    if (!r) return report_error(r.error());
    return *r;
  } catch (const ErrorException& e) {
    return report_error(e.error());
  } catch (const c10::Error& e) {
    return report_error(Error{"qrun eval", e.what_without_backtrace(), "check the model, metric and options", ErrorCode::internal});
  } catch (const std::exception& e) {
    return report_error(Error{"qrun eval", e.what(), "check the model, metric and options", ErrorCode::internal});
  }
}

}  // namespace

QRUN_CLI_COMMAND(cmd_eval, {"eval", "Run one metric on one model (optionally after transforms)", kUsage, run_eval});

}  // namespace qrun::cli
