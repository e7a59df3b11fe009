// qrun imatrix: an importance matrix as llama.cpp's llama-imatrix computes it, written as
// llama.cpp's GGUF imatrix, its legacy .dat, or a safetensors file of mean vectors (the format is
// the --out extension); or an existing imatrix file converted between those formats.
//   qrun imatrix --model M --calibration FILE [--n-samples N] [--seq-len L] [--sampling chunks|random]
//                [--seed S] [--process-output] [--batch-size B] [--dtype D] [--device D] --out im.gguf|im.dat|im.safetensors
//   qrun imatrix --in IM.{gguf,dat,safetensors} [--dat-chunk-size L] --out IM2.{gguf,dat,safetensors}
// Semantics, names and formats: imatrix.hpp and imatrix_compute.hpp. This folder's CMakeLists.txt
// compiles the command into the qrun executable; it registers itself like the core's commands.
#include "cli/command.hpp"
#include "registry/registry.hpp"

#include <imatrix_compute.hpp>
#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <boost/program_options.hpp>

#include <filesystem>
#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun imatrix --model M --calibration FILE [--n-samples N] [--seq-len L] [--sampling chunks|random] [--seed S]\n"
    "             [--process-output] [--batch-size B] [--dtype D] [--device D] --out IM.gguf|IM.dat|IM.safetensors\n"
    "       qrun imatrix --in IM.gguf|IM.dat|IM.safetensors [--dat-chunk-size L] --out IM2.gguf|IM2.dat|IM2.safetensors";

Result<void> check_out(const std::filesystem::path& out) {
  if (auto f = gguf::imatrix_format_for_output(out); !f) return f.error();
  if (std::filesystem::exists(out)) return Error{out.string(), "already exists", "remove it or choose another --out"};
  return {};
}

int convert(const po::variables_map& vm) {
  const std::filesystem::path in = vm["in"].as<std::string>(), out = vm["out"].as<std::string>();
  if (auto c = check_out(out); !c) return report_error(c.error().within("--out"));
  auto im = gguf::read_imatrix(in, vm["dat-chunk-size"].as<std::int64_t>());
  if (!im) return report_error(im.error().within("--in"));
  if (auto w = gguf::write_imatrix(out, *im); !w) return report_error(w.error().within("--out"));
  std::cout << "imatrix: " << im->entries.size() << " entries " << in.string() << " -> " << out.string() << "\n";
  return 0;
}

int compute(const po::variables_map& vm, const GlobalOptions& global) {
  const std::filesystem::path out = vm["out"].as<std::string>();
  if (auto c = check_out(out); !c) return report_error(c.error().within("--out"));
  const std::string device = vm["device"].as<std::string>();
  Registry registry = load_registry(global);
  auto backend = registry.make_backend(
      "hf", {{"path", vm["model"].as<std::string>()}, {"dtype", vm["dtype"].as<std::string>()}, {"device", device}});
  if (!backend) return report_error(backend.error().within("--model"));
  auto ctx = make_default_context(vm["seed"].as<std::uint64_t>(), c10::Device(device == "auto" ? "cpu" : device));
  auto model = (*backend)->load(*ctx);
  if (!model) return report_error(model.error());
  gguf::ImatrixSpec spec;
  spec.calibration = vm["calibration"].as<std::string>();
  spec.n_chunks = vm["n-samples"].as<std::int64_t>();
  spec.chunk_size = vm["seq-len"].as<std::int64_t>();
  spec.sampling = vm["sampling"].as<std::string>();
  spec.seed = vm["seed"].as<std::uint64_t>();
  spec.process_output = vm.count("process-output") > 0;
  spec.batch_size = vm["batch-size"].as<std::int64_t>();
  auto r = gguf::compute_imatrix(**model, spec, *ctx);
  if (!r) return report_error(r.error().within("--calibration"));
  if (auto w = gguf::write_imatrix(out, r->imatrix); !w) return report_error(w.error().within("--out"));
  ctx->info("imatrix: " + std::to_string(r->imatrix.entries.size()) + " entries from " +
            std::to_string(r->record.value("tokens", 0)) + " tokens (" + std::to_string(r->imatrix.chunk_count) +
            " chunks of " + std::to_string(spec.chunk_size) + ") -> " + out.string());
  std::cout << r->record.dump() << "\n";
  return 0;
}

int run_imatrix(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun imatrix");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (ORG/NAME)")
      ("calibration", po::value<std::string>()->value_name("FILE"), "text file, JSON list of strings or qrun calibration JSON")
      ("n-samples", po::value<std::int64_t>()->value_name("N")->default_value(0),
       "chunks to use (llama-imatrix --chunks); 0: every whole chunk (random: 128)")
      ("seq-len", po::value<std::int64_t>()->value_name("L")->default_value(512), "tokens per chunk (llama-imatrix -c)")
      ("sampling", po::value<std::string>()->value_name("S")->default_value("chunks"),
       "chunks: consecutive chunks with BOS first (llama-imatrix); random: GPTQ's random windows")
      ("seed", po::value<std::uint64_t>()->value_name("S")->default_value(0), "seed of --sampling random")
      ("process-output", "also collect lm_head (llama.cpp's output.weight), as llama-imatrix --process-output")
      ("batch-size", po::value<std::int64_t>()->value_name("B")->default_value(4), "chunks per forward")
      ("dtype", po::value<std::string>()->value_name("D")->default_value("auto"), "float32, bfloat16, float16 or auto")
      ("device", po::value<std::string>()->value_name("D")->default_value("cpu"), "cpu, cuda or cuda:N")
      ("in", po::value<std::string>()->value_name("IM"), "convert this imatrix file instead of computing one")
      ("dat-chunk-size", po::value<std::int64_t>()->value_name("L")->default_value(512),
       "chunk size a .dat input was computed with (not stored in the file)")
      ("out", po::value<std::string>()->value_name("IM"), "output: .gguf (llama-imatrix), .dat (legacy) or .safetensors")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun imatrix", kUsage, "Computes or converts an importance matrix (llama-imatrix)",
                                       {"out"}},
                                desc, vm))
    return *done;
  return run_reporting_errors("qrun imatrix", [&] {
    if (vm.count("in")) {
      if (vm.count("model") || vm.count("calibration"))
        return report_error(Error{"--in", "converts a file; --model/--calibration compute one", "give one or the other"});
      return convert(vm);
    }
    if (!vm.count("model") || !vm.count("calibration"))
      return report_error(Error{"qrun imatrix", "needs --model and --calibration (or --in to convert a file)", kUsage});
    return compute(vm, global);
  });
}

}  // namespace

QRUN_CLI_COMMAND(cmd_imatrix, {"imatrix", "Compute an importance matrix (llama-imatrix) or convert one (.gguf, .dat, .safetensors)",
                               kUsage, run_imatrix});

}  // namespace qrun::cli
