// qrun logits: one forward pass over given token ids, the logits written to a safetensors file,
// for parity checks against another implementation (bench/reference/arch_parity.py writes such
// inputs with transformers' outputs beside them) and users' own checks.
//   qrun logits --model M --input IN.safetensors --out OUT.safetensors [--dtype D] [--device D]
// IN holds "input_ids" int64 [B, T] (rows of equal length, no padding); OUT gets "logits"
// float32 [B, T, V] (the LM head in the compute dtype, then upcast, as Model::logits) and
// "input_ids" (the ids it was computed for), written to a temporary file renamed into place.
#include "cli/command.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#include <c10/core/InferenceMode.h>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun logits --model M --input IN.safetensors --out OUT.safetensors [--dtype D] [--device D]";

Result<at::Tensor> read_ids(const std::string& file) {
  auto f = SafetensorsFile::open(file);
  if (!f) return f.error().within("--input");
  const TensorEntry* e = f->find("input_ids");
  if (e == nullptr)
    return Error{"--input " + file, "has no tensor \"input_ids\"", "store the token ids as input_ids (int64 [B, T])"};
  if (e->dtype != "I64" || e->shape.size() != 2 || e->shape[0] == 0 || e->shape[1] == 0)
    return Error{"--input " + file + " input_ids", "must be a non-empty int64 [B, T] tensor, got " + e->dtype + " of rank " +
                                                       std::to_string(e->shape.size()),
                 "write the ids as int64 [batch, tokens]"};
  return f->load("input_ids");
}

int logits(const po::variables_map& vm, const GlobalOptions& global) {
  auto ids = read_ids(vm["input"].as<std::string>());
  if (!ids) return report_error(ids.error());
  const std::string device = vm["device"].as<std::string>();
  Registry registry = load_registry(global);
  auto backend = registry.make_backend(
      vm["backend"].as<std::string>(),
      {{"path", vm["model"].as<std::string>()}, {"dtype", vm["dtype"].as<std::string>()}, {"device", device}});
  if (!backend) return report_error(backend.error().within("--model"));
  auto ctx = make_default_context(0, c10::Device(device == "auto" ? "cpu" : device));
  auto model = (*backend)->load(*ctx);
  if (!model) return report_error(model.error());
  c10::InferenceMode guard;
  at::Tensor out = (*model)->logits(*ids).to(at::kCPU).contiguous();  // [B, T, V] float32
  const std::string file = vm["out"].as<std::string>();
  if (auto w = write_safetensors(file, {{"logits", out}, {"input_ids", *ids}},
                                 {{"model", vm["model"].as<std::string>()},
                                  {"compute_dtype", std::string(to_string((*model)->compute_dtype()))},
                                  {"device", (*model)->device().str()}});
      !w)
    return report_error(w.error().within("--out"));
  ctx->info("logits [" + std::to_string(out.size(0)) + ", " + std::to_string(out.size(1)) + ", " +
            std::to_string(out.size(2)) + "] float32 -> " + file);
  return 0;
}

int run_logits(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun logits");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (ORG/NAME)")
      ("backend", po::value<std::string>()->default_value("hf")->value_name("B"),
       "backend plugin that loads --model (e.g. gguf_file for a .gguf file)")
      ("input", po::value<std::string>()->value_name("IN.safetensors"), "input_ids: int64 [B, T], no padding")
      ("out", po::value<std::string>()->value_name("OUT.safetensors"), "where logits (float32 [B, T, V]) are written")
      ("dtype", po::value<std::string>()->value_name("D")->default_value("auto"), "float32, bfloat16, float16 or auto")
      ("device", po::value<std::string>()->value_name("D")->default_value("cpu"), "cpu, cuda or cuda:N")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun logits", kUsage, "Writes a model's logits for given token ids",
                                       {"model", "input", "out"}},
                                desc, vm))
    return *done;
  return run_reporting_errors("qrun logits", [&] { return logits(vm, global); });
}

}  // namespace

QRUN_CLI_COMMAND(cmd_logits, {"logits", "Write a model's logits for token ids (safetensors in, safetensors out)", kUsage,
                              run_logits});

}  // namespace qrun::cli
