// qrun_bench: the speed measurements of issue 8 on one model, through the product's own paths
// (hf backend, transform plugins, the perplexity metric plugin, Model::generate).
//   qrun_bench --model DIR --device cpu|cuda --dtype bfloat16|float16|float32
//              [--transform NAME[:k=v,...]]... --wikitext FILE --suite FILE --json OUT
//              [--ppl-ctx 2048 --ppl-batch 8 --ppl-windows N] [--decode-prompt 32 --decode-new 128]
//              [--suite-new 128] [--repeats 3] [--what ppl,decode,suite]
// Writes one JSON file (atomically): machine, versions, model, dtypes, transforms and each
// measurement (median and every run). bench/reference/hf_speed.py measures transformers the same
// way; bench/reference/speed_table.py compares the two.
#include "common/version.hpp"
#include "registry/registry.hpp"
#include "runner/provenance.hpp"  // device_name, as results.json records it
#include "speed/measure.hpp"

#include <qrun/context.hpp>

#include <boost/program_options.hpp>
#include <c10/util/Exception.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace po = boost::program_options;

namespace {

using qrun::Error;
using qrun::Result;

nlohmann::json to_json(const qrun::ParamMap& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params) std::visit([&, key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

// "NAME[:k=v,k=v]" -> the transform's name and its validated parameters (as qrun eval --transform).
Result<std::pair<std::string, qrun::ParamMap>> parse_transform(const qrun::Registry& registry, const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string where = "--transform " + spec;
  auto info = registry.find(name, qrun::Kind::transform);
  if (!info) return info.error().within(where + ":");
  qrun::ParamMap given;
  if (colon != std::string::npos) {
    std::stringstream rest(spec.substr(colon + 1));
    for (std::string a; std::getline(rest, a, ',');) {
      if (a.empty()) continue;
      auto kv = qrun::parse_param_assignment((*info)->schema, a);
      if (!kv) return kv.error().within(where);
      given[kv->first] = kv->second;
    }
  }
  auto params = qrun::validate_params((*info)->schema, given);
  if (!params) return params.error().within(where);
  return std::make_pair(name, *params);
}

Result<std::set<std::string>> parse_what(const std::string& text) {
  std::set<std::string> what;
  std::stringstream in(text);
  for (std::string w; std::getline(in, w, ',');) {
    if (w != "ppl" && w != "decode" && w != "suite")
      return Error{"--what", "\"" + w + "\" is not a measurement", "use a comma-separated subset of ppl,decode,suite"};
    what.insert(w);
  }
  if (what.empty()) return Error{"--what", "names no measurement", "use e.g. ppl,decode,suite"};
  return what;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Result<void> write_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Error{path.string(), "cannot be written", "check that its folder exists and is writable"};
    f << text;
    if (!f.flush()) return Error{path.string(), "write failed", "check the free disk space"};
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{path.string(), "cannot be renamed into place: " + ec.message(), "check the folder's permissions"};
  return {};
}

template <class T>
T positive(const po::variables_map& vm, const char* name, bool allow_zero = false) {
  const T v = vm[name].as<T>();
  if (v < 0 || (!allow_zero && v == 0))
    throw qrun::ErrorException(Error{std::string("--") + name, "is " + std::to_string(v),
                                     allow_zero ? "use 0 or a positive number" : "use a positive number"});
  return v;
}

Result<int> run(const po::variables_map& vm) {
  auto what = parse_what(vm["what"].as<std::string>());
  if (!what) return what.error();
  const std::string device_text = vm["device"].as<std::string>();
  const c10::Device device(device_text == "auto" ? "cpu" : device_text);  // the context's; the model says its own
  const auto repeats = positive<std::int64_t>(vm, "repeats");
  if ((what->count("ppl") || what->count("decode")) && !vm.count("wikitext"))
    return Error{"--wikitext", "is required by ppl and decode", "pass --wikitext PATH/wiki.test.raw"};
  if (what->count("suite") && !vm.count("suite"))
    return Error{"--suite", "is required by suite", "pass --suite datasets/prompt_suite_96.json"};

  auto registry = qrun::Registry::load(qrun::plugin_search_dirs({}));
  for (const Error& refused : registry.refusals()) std::fprintf(stderr, "warning: %s\n", refused.message().c_str());
  std::vector<std::pair<std::string, qrun::ParamMap>> steps;
  if (vm.count("transform"))
    for (const std::string& spec : vm["transform"].as<std::vector<std::string>>()) {
      auto step = parse_transform(registry, spec);
      if (!step) return step.error();
      steps.push_back(std::move(*step));
    }
  const std::string model_dir = vm["model"].as<std::string>();
  auto backend = registry.make_backend(
      "hf", {{"path", model_dir}, {"dtype", vm["dtype"].as<std::string>()}, {"device", device_text}});
  if (!backend) return backend.error().within("--model");
  auto ctx = qrun::make_default_context(0, device);
  const auto load_t0 = std::chrono::steady_clock::now();
  auto loaded = (*backend)->load(*ctx);
  if (!loaded) return loaded.error();
  qrun::Model& model = **loaded;
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_t0).count();

  nlohmann::json transforms = nlohmann::json::array();
  for (const auto& [name, params] : steps) {  // applied in place: the benchmark needs no baseline copy
    auto t = registry.make_transform(name, params);
    if (!t) return t.error();
    const auto t0 = std::chrono::steady_clock::now();
    auto report = (*t)->apply(model, *ctx);
    if (!report) return report.error().within("transform " + name + ":");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx->info(name + ": " + report->summary);
    transforms.push_back({{"use", name}, {"params", to_json(params)}, {"summary", report->summary}, {"seconds", s}});
  }

  nlohmann::json out = {
      {"tool", "qrun_bench"},
      {"qrun_version", std::string(qrun::qrun_version())},
      {"torch_version", std::string(qrun::torch_build_version())},
      {"date_utc", utc_now()},
      {"device", model.device().str()},
      {"device_name", qrun::runner::device_name(model.device())},
      {"model", model_dir},
      {"dtype", vm["dtype"].as<std::string>()},
      {"compute_dtype", std::string(qrun::to_string(model.compute_dtype()))},
      {"storage_dtype", std::string(qrun::to_string(model.storage_dtype()))},
      {"transforms", transforms},
      {"load_seconds", load_seconds},
      {"warmup_runs", 1},
      {"repeats", repeats},
      {"measurements", nlohmann::json::object()}};
  std::filesystem::path wikitext = vm.count("wikitext") ? vm["wikitext"].as<std::string>() : std::string();

  if (what->count("ppl")) {
    const qrun::bench::PerplexitySettings s{wikitext, positive<std::int64_t>(vm, "ppl-ctx"),
                                           positive<std::int64_t>(vm, "ppl-batch"),
                                           positive<std::int64_t>(vm, "ppl-windows", true), repeats};
    auto m = qrun::bench::measure_perplexity(registry, model, s, *ctx);
    if (!m) return m.error();
    out["measurements"]["ppl"] = *m;
  }
  if (what->count("decode")) {
    auto prompt = qrun::bench::wiki_prompt(model.tokenizer(), wikitext, positive<std::int64_t>(vm, "decode-prompt"));
    if (!prompt) return prompt.error();
    const qrun::bench::GenerateSettings s{positive<std::int64_t>(vm, "decode-new"), repeats};
    auto m = qrun::bench::measure_generate(model, {*prompt}, s, *ctx, "decode");
    if (!m) return m.error();
    (*m)["prompt_ids"] = *prompt;
    out["measurements"]["decode"] = *m;
  }
  if (what->count("suite")) {
    const auto new_tokens = positive<std::int64_t>(vm, "suite-new");
    bool chat = false;
    auto prompts = qrun::bench::suite_prompts(model, vm["suite"].as<std::string>(), new_tokens, chat);
    if (!prompts) return prompts.error();
    auto m = qrun::bench::measure_generate(model, *prompts, {new_tokens, repeats}, *ctx, "suite");
    if (!m) return m.error();
    (*m)["chat_template"] = chat;
    (*m)["suite"] = vm["suite"].as<std::string>();
    out["measurements"]["suite"] = *m;
  }
  const std::string json_path = vm["json"].as<std::string>();
  auto written = write_atomically(json_path, out.dump(1) + "\n");
  if (!written) return written.error();
  std::printf("qrun_bench: wrote %s\n", json_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("qrun_bench: issue-8 speed measurements through qrun's own paths");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("DIR"), "model folder (hf backend)")
      ("device", po::value<std::string>()->value_name("D")->default_value("cpu"), "cpu, cuda or cuda:N")
      ("dtype", po::value<std::string>()->value_name("D")->default_value("bfloat16"), "bfloat16, float16 or float32")
      ("transform", po::value<std::vector<std::string>>()->value_name("NAME[:K=V,...]")->composing(),
       "transform applied to the model in place, in the given order (repeatable)")
      ("wikitext", po::value<std::string>()->value_name("FILE"), "wiki.test.raw (perplexity and the decode prompt)")
      ("suite", po::value<std::string>()->value_name("FILE"), "prompt suite (datasets/prompt_suite_96.json)")
      ("json", po::value<std::string>()->value_name("OUT"), "where the results go (JSON)")
      ("ppl-ctx", po::value<std::int64_t>()->default_value(2048), "perplexity chunk length n_ctx (tokens)")
      ("ppl-batch", po::value<std::int64_t>()->default_value(8), "perplexity windows per forward pass")
      ("ppl-windows", po::value<std::int64_t>()->default_value(0), "perplexity windows (0: every chunk of the file)")
      ("decode-prompt", po::value<std::int64_t>()->default_value(32), "decode prompt length (tokens of wiki text)")
      ("decode-new", po::value<std::int64_t>()->default_value(128), "decode: new tokens (exactly)")
      ("suite-new", po::value<std::int64_t>()->default_value(128), "suite: new tokens per prompt (exactly)")
      ("repeats", po::value<std::int64_t>()->default_value(3), "timed runs after one warm-up; the median is reported")
      ("what", po::value<std::string>()->default_value("ppl,decode,suite"), "measurements to run (comma-separated)")
      ("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "error: qrun_bench: %s; fix: see qrun_bench --help\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  for (const char* required : {"model", "json"})
    if (!vm.count(required)) {
      std::fprintf(stderr, "error: --%s: is required; fix: pass --%s (see qrun_bench --help)\n", required, required);
      return 2;
    }
  try {
    auto r = run(vm);
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.error().message().c_str());
      return 1;
    }
    return *r;
  } catch (const qrun::ErrorException& e) {
    std::fprintf(stderr, "error: %s\n", e.error().message().c_str());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: qrun_bench: %s; fix: check the model, device and options\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: qrun_bench: %s; fix: check the model, device and options\n", e.what());
  }
  return 1;
}
