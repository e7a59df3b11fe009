// qrun generate --model M --prompt "..." [--chat] [--max-new-tokens N]
//               [--sample --temperature T --top-p P --top-k K --seed S] [--dtype D] [--device D] [--ids]
// Loads the model through the registry's "hf" backend, generates one continuation and prints
// the new text (and, with --ids, the new token ids).
#include "cli/command.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <boost/program_options.hpp>
#include <c10/util/Exception.h>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun generate --model M --prompt TEXT [--chat] [--max-new-tokens N] "
    "[--sample --temperature T --top-p P --top-k K --seed S] [--dtype D] [--device D] [--ids]";

Result<int> generate(const po::variables_map& vm, const GlobalOptions& global) {
  Registry registry = load_registry(global);
  ParamMap params{{"path", vm["model"].as<std::string>()},
                  {"dtype", vm["dtype"].as<std::string>()},
                  {"device", vm["device"].as<std::string>()}};
  auto backend = registry.make_backend(vm["backend"].as<std::string>(), params);
  if (!backend) return backend.error();
  const auto seed = vm["seed"].as<std::uint64_t>();
  const std::string device = vm["device"].as<std::string>();
  auto ctx = make_default_context(seed, c10::Device(device == "auto" ? "cpu" : device));
  auto model = (*backend)->load(*ctx);
  if (!model) return model.error();
  const Tokenizer& tok = (*model)->tokenizer();

  const std::string prompt = vm["prompt"].as<std::string>();
  std::vector<std::int64_t> ids;
  if (vm.count("chat")) {
    auto text = tok.apply_chat_template({ChatMessage{"user", prompt}}, /*add_generation_prompt=*/true);
    if (!text) return text.error();
    ids = tok.encode(*text, /*add_special_tokens=*/false);  // as apply_chat_template(tokenize=True)
  } else {
    ids = tok.encode(prompt, /*add_special_tokens=*/true);
  }
  if (ids.empty()) return Error{"--prompt", "encodes to no tokens", "give a non-empty prompt"};

  GenerationConfig g;
  g.max_new_tokens = vm["max-new-tokens"].as<std::int64_t>();
  g.do_sample = vm.count("sample") > 0;
  g.temperature = vm["temperature"].as<double>();
  g.top_p = vm["top-p"].as<double>();
  g.top_k = vm["top-k"].as<std::int64_t>();
  g.seed = seed;
  auto out = (*model)->generate({ids}, g);
  if (!out) return out.error();
  const Generation& gen = out->front();
  std::cout << tok.decode(gen.tokens, /*skip_special_tokens=*/true) << std::endl;
  if (vm.count("ids")) {
    for (std::size_t i = 0; i < gen.tokens.size(); ++i) std::cout << (i ? " " : "") << gen.tokens[i];
    std::cout << std::endl;
  }
  const double tps = gen.decode_seconds > 0 && gen.tokens.size() > 1
                         ? static_cast<double>(gen.tokens.size() - 1) / gen.decode_seconds
                         : 0.0;
  ctx->info(std::to_string(ids.size()) + " prompt tokens, " + std::to_string(gen.tokens.size()) +
            " new tokens" + (gen.stopped_on_eos ? " (stopped on eos)" : "") + ", prefill " +
            std::to_string(gen.prefill_seconds) + " s, decode " + std::to_string(tps) + " tokens/s");
  return 0;
}

int run_generate(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun generate");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (ORG/NAME)")
      ("backend", po::value<std::string>()->default_value("hf")->value_name("B"),
       "backend plugin that loads --model (e.g. gguf_file for a .gguf file)")
      ("prompt", po::value<std::string>()->value_name("TEXT"), "the prompt")
      ("chat", "format the prompt with the tokenizer's chat template (ChatML) as a user turn")
      ("max-new-tokens", po::value<std::int64_t>()->value_name("N")->default_value(64), "tokens to generate at most")
      ("sample", "sample instead of greedy decoding")
      ("temperature", po::value<double>()->value_name("T")->default_value(1.0), "sampling temperature (> 0)")
      ("top-p", po::value<double>()->value_name("P")->default_value(1.0), "nucleus sampling mass in (0, 1]")
      ("top-k", po::value<std::int64_t>()->value_name("K")->default_value(0), "keep the K most likely tokens (0: off)")
      ("seed", po::value<std::uint64_t>()->value_name("S")->default_value(0), "sampling seed")
      ("dtype", po::value<std::string>()->value_name("D")->default_value("auto"), "float32, bfloat16, float16 or auto")
      ("device", po::value<std::string>()->value_name("D")->default_value("cpu"), "cpu, cuda or cuda:N")
      ("ids", "also print the new token ids")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun generate", kUsage, "Generates a continuation of a prompt", {"model", "prompt"}}, desc, vm)) return *done;
  try {
    auto r = generate(vm, global);
    if (!r) return report_error(r.error());
    return *r;
  } catch (const ErrorException& e) {
    return report_error(e.error());
  } catch (const c10::Error& e) {
    return report_error(Error{"qrun generate", e.what_without_backtrace(), "check the model and options", ErrorCode::internal});
  } catch (const std::exception& e) {
    return report_error(Error{"qrun generate", e.what(), "check the model and options", ErrorCode::internal});
  }
}

}  // namespace

QRUN_CLI_COMMAND(cmd_generate, {"generate", "Generate a continuation of a prompt with a model", kUsage, run_generate});

}  // namespace qrun::cli
