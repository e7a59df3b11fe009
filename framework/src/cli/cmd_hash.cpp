// qrun hash / qrun verify: a SHA-256 manifest of every tensor of a checkpoint folder, and the
// check of a folder against one (forensics/tensor_manifest.hpp).
//   qrun hash --model M [--out MANIFEST.json]      (stdout when --out is absent)
//   qrun verify --model M --manifest MANIFEST.json (exit 1 naming each changed/missing/extra tensor)
#include "cli/command.hpp"
#include "forensics/tensor_manifest.hpp"
#include "results/results.hpp"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace qrun::cli {
namespace {

const char* kHashUsage = "qrun hash --model M [--out MANIFEST.json]";
const char* kVerifyUsage = "qrun verify --model M --manifest MANIFEST.json";

// Parses args against desc; returns an exit code when the command should stop (error or --help).
std::optional<int> parse(const std::vector<std::string>& args, const po::options_description& desc,
                         po::variables_map& vm, const std::string& name, const char* usage, const char* about) {
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{name, e.what(), std::string("usage: ") + usage});
  }
  if (vm.count("help")) {
    std::cout << about << "\n  " << usage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("model")) return report_error(Error{name, "--model is required", std::string("usage: ") + usage});
  return std::nullopt;
}

int run_hash(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc("Options of qrun hash");
  desc.add_options()("model", po::value<std::string>()->value_name("M"), "checkpoint folder (*.safetensors)")(
      "out", po::value<std::string>()->value_name("MANIFEST.json"), "write the manifest here (atomically)")(
      "help,h", "show this help");
  po::variables_map vm;
  if (auto stop = parse(args, desc, vm, "qrun hash", kHashUsage, "Writes the SHA-256 of every tensor of a checkpoint:"))
    return *stop;
  const fs::path folder = vm["model"].as<std::string>();
  auto digests = forensics::hash_checkpoint(folder);
  if (!digests) return report_error(digests.error());
  const nlohmann::json manifest = forensics::manifest_json(*digests, folder.string());
  if (!vm.count("out")) {
    std::cout << manifest.dump(2) << "\n";
    return 0;
  }
  const fs::path out = vm["out"].as<std::string>();
  if (auto w = write_json_atomic(out, manifest); !w) return report_error(w.error());
  std::cout << "hashed " << digests->size() << " tensors; wrote " << out.string() << "\n";
  return 0;
}

int run_verify(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc("Options of qrun verify");
  desc.add_options()("model", po::value<std::string>()->value_name("M"), "checkpoint folder (*.safetensors)")(
      "manifest", po::value<std::string>()->value_name("MANIFEST.json"), "a manifest written by qrun hash")(
      "help,h", "show this help");
  po::variables_map vm;
  if (auto stop = parse(args, desc, vm, "qrun verify", kVerifyUsage,
                        "Checks every tensor of a checkpoint against a qrun hash manifest:"))
    return *stop;
  if (!vm.count("manifest"))
    return report_error(Error{"qrun verify", "--manifest is required", std::string("usage: ") + kVerifyUsage});
  const fs::path manifest_path = vm["manifest"].as<std::string>();
  nlohmann::json j;
  {
    std::ifstream in(manifest_path);
    if (!in) {
      return report_error(Error{manifest_path.string(), "cannot be read", "give the file qrun hash --out wrote",
                                fs::exists(manifest_path) ? ErrorCode::io : ErrorCode::not_found});
    }
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      return report_error(Error{manifest_path.string(), std::string("is not JSON: ") + e.what(),
                                "rewrite it with qrun hash --out", ErrorCode::corrupt_input});
    }
  }
  auto expected = forensics::parse_manifest(j, manifest_path.string());
  if (!expected) return report_error(expected.error());
  auto actual = forensics::hash_checkpoint(vm["model"].as<std::string>());
  if (!actual) return report_error(actual.error());
  const auto mismatches = forensics::compare_digests(*expected, *actual);
  if (mismatches.empty()) {
    std::cout << "verified " << actual->size() << " tensors: all match " << manifest_path.string() << "\n";
    return 0;
  }
  for (const auto& m : mismatches)
    std::cerr << forensics::to_string(m.kind) << ": " << m.name << " (" << m.detail << ")\n";
  return report_error(Error{vm["model"].as<std::string>(),
                            std::to_string(mismatches.size()) + " of " + std::to_string(expected->size()) +
                                " manifest tensors do not match (listed above)",
                            "the checkpoint was modified after the manifest was written; re-download it or rehash"});
}

}  // namespace

QRUN_CLI_COMMAND(cmd_hash, {"hash", "Write the SHA-256 of every tensor of a checkpoint folder", kHashUsage, run_hash});
QRUN_CLI_COMMAND(cmd_verify, {"verify", "Check a checkpoint folder against a qrun hash manifest", kVerifyUsage,
                              run_verify});

}  // namespace qrun::cli
