// qrun quantize: write a quantized checkpoint folder from a model, or quantize the 2-D floating
// tensors of a plain safetensors file. Tensor names are documented in plugins/quantizers/README.md.
//   qrun quantize --model M --quantizer nf4 [--defense NAME[:k=v,...]]... [--param k=v]... --out DIR
//   qrun quantize --tensors IN.safetensors --quantizer Q --out OUT.safetensors [--dequant] [--param k=v]...
#include "cli/command.hpp"
#include "model/tensor_model.hpp"
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun quantize --model M --quantizer Q [--defense NAME[:k=v,...]]... [--param k=v]... --out DIR\n"
    "       qrun quantize --tensors IN.safetensors --quantizer Q --out OUT.safetensors [--dequant] [--param k=v]...";

// "k=v,k2=[a,b],k3=x" -> {"k=v", "k2=[a,b]", "k3=x"}: a comma starts a new assignment only when the
// text after it has an '=' before the next comma (so list values keep their commas).
std::vector<std::string> split_assignments(const std::string& text) {
  std::vector<std::string> parts, out;
  std::string cur;
  for (char ch : text) {
    if (ch == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  parts.push_back(cur);
  for (const auto& p : parts) {
    if (!out.empty() && p.find('=') == std::string::npos) out.back() += "," + p;
    else if (!p.empty()) out.push_back(p);
  }
  return out;
}

// Validates "--param"-style assignments against the component's schema (defaults filled).
Result<ParamMap> component_params(const Registry& registry, const std::string& name, Kind kind,
                                  const std::vector<std::string>& assignments, const std::string& thing) {
  auto info = registry.find(name, kind);
  if (!info) return info.error();
  ParamMap given;
  for (const auto& a : assignments) {
    auto kv = parse_param_assignment((*info)->schema, a);
    if (!kv) return kv.error().within(thing);
    given[kv->first] = kv->second;
  }
  auto valid = validate_params((*info)->schema, given);
  if (!valid) return valid.error().within(thing);
  return *valid;
}

Result<const ComponentInfo*> find_transform(const Registry& registry, const std::string& name, Role role) {
  auto info = registry.find(name, Kind::transform);
  if (!info) return info.error();
  if ((*info)->role != role)
    return Error{name, "is a " + std::string(to_string((*info)->role)) + ", not a " + std::string(to_string(role)),
                 role == Role::quantizer ? "pass it with --defense, and a quantizer (`qrun plugins` lists them) with --quantizer"
                                         : "pass it with --quantizer"};
  return *info;
}

Result<void> apply_transform(const Registry& registry, const std::string& name, const ParamMap& params, Model& model,
                             RunContext& ctx, nlohmann::json& log) {
  auto t = registry.make_transform(name, params);
  if (!t) return t.error();
  Result<TransformReport> r = Error{name, "did not run", ""};
  try {
    r = (*t)->apply(model, ctx);
  } catch (const ErrorException& e) {
    return e.error().within(name);
  } catch (const std::exception& e) {
    return Error{name, std::string("failed: ") + e.what(), "report this with the command line that caused it", ErrorCode::internal};
  }
  if (!r) return r.error().within(name);
  nlohmann::json p = nlohmann::json::object();
  for (const auto& [k, v] : params) p[k] = to_string(v);
  log.push_back({{"transform", name}, {"params", p}, {"summary", r->summary}, {"details", r->details}});
  return {};
}

// config.json's quantization_config: the quantizer's own (its report's details carry one when its
// checkpoints should read as another tool's, e.g. bitsandbytes'), else qrun's record of the kind.
nlohmann::json quantization_config(const std::string& quantizer, const nlohmann::json& log, Model& model) {
  const nlohmann::json& details = log.back()["details"];
  if (details.is_object() && details.contains("quantization_config")) return details["quantization_config"];
  nlohmann::json kinds = nlohmann::json::object();
  for (const std::string& name : model.linear_names())
    if (model.linear(name).kind() != "dense") kinds[model.linear(name).kind()].push_back(name);
  return {{"quant_method", "qrun"}, {"quantizer", quantizer}, {"params", log.back()["params"]}, {"layers", kinds}};
}

// safetensors metadata: the format tag, the quantizer, and each quantized layer's kind.
std::map<std::string, std::string> checkpoint_metadata(const std::string& quantizer, Model& model) {
  std::map<std::string, std::string> m = {{"format", "pt"}, {"qrun.quantizer", quantizer}};
  for (const std::string& name : model.linear_names()) {
    const LinearImpl& l = model.linear(name);
    if (l.kind() != "dense") m[linear_metadata_key(name)] = linear_metadata_value(l);
  }
  return m;
}

// Removes a temporary output (file or folder) unless released: every failure path, exceptions
// included, leaves nothing behind.
class TempOutput {
 public:
  explicit TempOutput(fs::path p) : path_(std::move(p)) {}
  ~TempOutput() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;
  const fs::path& path() const { return path_; }
  // Renames the temporary to `final` (atomic on one file system); the guard then owns nothing.
  Result<void> publish(const fs::path& final) {
    std::error_code ec;
    fs::rename(path_, final, ec);
    if (ec) return Error::of(ErrorCode::io, final.string(), "cannot be created: " + ec.message(), "check the --out path");
    path_.clear();
    return {};
  }

 private:
  fs::path path_;
};

fs::path temp_name(const fs::path& out) { return out.string() + ".tmp-" + std::to_string(::getpid()); }

Result<void> write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) return Error{path.string(), "cannot be written", "check the --out folder's permissions and free space", ErrorCode::io};
  return {};
}

Result<void> check_new_output(const fs::path& out) {
  if (fs::exists(out))
    return Error{out.string(), "already exists", "remove it or choose another --out"};
  return {};
}

int quantize_model_folder(const po::variables_map& vm, const GlobalOptions& global) {
  c10::InferenceMode guard;
  const std::string quantizer = vm["quantizer"].as<std::string>();
  const fs::path out = vm["out"].as<std::string>();
  if (auto e = check_new_output(out); !e) return report_error(e.error());
  Registry registry = load_registry(global);
  auto qinfo = find_transform(registry, quantizer, Role::quantizer);
  if (!qinfo) return report_error(qinfo.error());
  const auto assignments = vm.count("param") ? vm["param"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto qparams = component_params(registry, quantizer, Kind::transform, assignments, "--param");
  if (!qparams) return report_error(qparams.error());
  // A quantizer that declares an "export" parameter writes the quantized model itself, in its own
  // file format (e.g. GGUF): --out FILE.ext (an extension other than .safetensors) goes there and
  // no checkpoint folder is written.
  const bool exports = (*qinfo)->schema.find("export") != nullptr && out.has_extension() && out.extension() != ".safetensors";
  if (exports) (*qparams)["export"] = out.string();
  std::vector<std::pair<std::string, ParamMap>> defenses;
  for (const auto& d : vm.count("defense") ? vm["defense"].as<std::vector<std::string>>() : std::vector<std::string>{}) {
    const auto colon = d.find(':');
    const std::string name = d.substr(0, colon);
    auto dinfo = find_transform(registry, name, Role::defense);
    if (!dinfo) return report_error(dinfo.error().within("--defense"));
    auto dp = component_params(registry, name, Kind::transform,
                               colon == std::string::npos ? std::vector<std::string>{} : split_assignments(d.substr(colon + 1)),
                               "--defense " + name);
    if (!dp) return report_error(dp.error());
    defenses.emplace_back(name, *dp);
  }

  const std::string device_name = vm["device"].as<std::string>();
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(device_name);
  } catch (const std::exception&) {
    return report_error(Error{"--device", "\"" + device_name + "\" is not a device", "use cpu, cuda or cuda:N"});
  }
  auto ctx = make_default_context(vm["seed"].as<std::uint64_t>(), device);
  auto backend = registry.make_backend(
      "hf", {{"path", vm["model"].as<std::string>()}, {"dtype", vm["dtype"].as<std::string>()}, {"device", device_name}});
  if (!backend) return report_error(backend.error());
  Result<std::unique_ptr<Model>> model = Error{"--model", "was not loaded", ""};
  try {
    model = (*backend)->load(*ctx);
  } catch (const ErrorException& e) {
    return report_error(e.error());
  }
  if (!model) return report_error(model.error());

  nlohmann::json log = nlohmann::json::array();
  for (const auto& [name, params] : defenses)
    if (auto r = apply_transform(registry, name, params, **model, *ctx, log); !r) return report_error(r.error());
  if (auto r = apply_transform(registry, quantizer, *qparams, **model, *ctx, log); !r) return report_error(r.error());
  if (exports) {
    std::cout << log.back()["summary"].get<std::string>() << "\n";
    return 0;
  }

  // Tensors: each linear layer's state under its name, then every other parameter.
  NamedTensors tensors;
  for (const std::string& name : (*model)->linear_names())
    for (auto& [suffix, t] : (*model)->linear(name).state()) tensors.emplace_back(name + "." + suffix, t.to(at::kCPU));
  for (auto& [name, t] : (*model)->other_tensors()) tensors.emplace_back(name, t.to(at::kCPU));

  TempOutput tmp(temp_name(out));
  std::error_code ec;
  fs::remove_all(tmp.path(), ec);
  fs::create_directories(tmp.path(), ec);
  if (ec) return report_error(Error::of(ErrorCode::io, tmp.path().string(), "cannot be created: " + ec.message(), "check the --out path"));
  if (auto w = write_safetensors(tmp.path() / "model.safetensors", tensors, checkpoint_metadata(quantizer, **model)); !w)
    return report_error(w.error());
  const fs::path src = (*model)->source().folder;
  for (const auto& entry : fs::directory_iterator(src, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string fname = entry.path().filename().string();
    const std::string ext = entry.path().extension().string();
    if (ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" ||
        fname == "model.safetensors.index.json" || fname == "config.json")
      continue;
    fs::copy_file(entry.path(), tmp.path() / fname, fs::copy_options::overwrite_existing, ec);
    if (ec) return report_error(Error::of(ErrorCode::io, entry.path().string(), "cannot be copied: " + ec.message(), "check the model folder"));
  }
  nlohmann::json config;
  {
    std::ifstream in(src / "config.json");
    if (!in) return report_error(Error::of(ErrorCode::not_found, (src / "config.json").string(), "cannot be read", "give a Hugging Face model folder"));
    config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object())
      return report_error(Error::of(ErrorCode::corrupt_input, (src / "config.json").string(), "is not a JSON object", "fix the file"));
  }
  config["quantization_config"] = quantization_config(quantizer, log, **model);
  if (auto w = write_text(tmp.path() / "config.json", config.dump(2) + "\n"); !w) return report_error(w.error());
  if (auto w = write_text(tmp.path() / "qrun_quantize.json", nlohmann::json{{"source", (*model)->source().name},
                                                                             {"transforms", log}}.dump(2) + "\n");
      !w)
    return report_error(w.error());
  if (auto p = tmp.publish(out); !p) return report_error(p.error());
  std::cout << log.back()["summary"].get<std::string>() << "\nwrote " << out.string() << "\n";
  return 0;
}

// A safetensors state name for plain tensor `name`: "weight..." suffixes take the tensor's name.
std::string state_name(const std::string& name, const std::string& suffix) {
  if (suffix.rfind("weight", 0) == 0) return name + suffix.substr(6);
  return name + "." + suffix;
}

int quantize_tensor_file(const po::variables_map& vm, const GlobalOptions& global) {
  c10::InferenceMode guard;
  const std::string quantizer = vm["quantizer"].as<std::string>();
  const fs::path in = vm["tensors"].as<std::string>(), out = vm["out"].as<std::string>();
  Registry registry = load_registry(global);
  auto qinfo = find_transform(registry, quantizer, Role::quantizer);
  if (!qinfo) return report_error(qinfo.error());
  const auto assignments = vm.count("param") ? vm["param"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto p = component_params(registry, quantizer, Kind::transform, assignments, "--param");
  if (!p) return report_error(p.error());
  auto file = SafetensorsFile::open(in);
  if (!file) return report_error(file.error());
  // Every 2-D floating tensor is offered to the quantizer as a linear layer named as the tensor;
  // its own include/exclude parameters choose among them, as in a model.
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const TensorEntry& e : file->entries()) {
    const bool floating = e.dtype == "F32" || e.dtype == "F16" || e.dtype == "BF16";
    if (!floating || e.shape.size() != 2) continue;
    auto t = file->load(e.name);
    if (!t) return report_error(t.error());
    weights.emplace_back(e.name, *t);
  }
  if (weights.empty())
    return report_error(Error{in.string(), "has no 2-D floating-point tensor to quantize",
                              "give a safetensors file with F32/F16/BF16 matrices"});
  auto model = make_tensor_model(weights, in.string());
  auto ctx = make_default_context(vm["seed"].as<std::uint64_t>(), c10::Device(c10::kCPU));
  nlohmann::json log = nlohmann::json::array();
  if (auto r = apply_transform(registry, quantizer, *p, *model, *ctx, log); !r) {
    Error err = r.error();
    return report_error(err.within(in.string(), ": "));
  }
  const bool dequant = vm.count("dequant") > 0;
  NamedTensors tensors;
  std::map<std::string, std::string> metadata = checkpoint_metadata(quantizer, *model);
  std::int64_t quantized = 0;
  for (const TensorEntry& e : file->entries()) {
    const bool is_layer = std::any_of(weights.begin(), weights.end(), [&](const auto& w) { return w.first == e.name; });
    if (!is_layer || model->linear(e.name).kind() == "dense") {
      auto t = file->load(e.name);
      if (!t) return report_error(t.error());
      tensors.emplace_back(e.name, *t);
      continue;
    }
    const LinearImpl& layer = model->linear(e.name);
    for (const auto& [suffix, s] : layer.state()) tensors.emplace_back(state_name(e.name, suffix), s.to(at::kCPU));
    if (dequant) tensors.emplace_back(e.name + ".dequant", layer.weight(at::kFloat));
    ++quantized;
  }
  if (quantized == 0)
    return report_error(Error{in.string(), "has no 2-D float tensor selected by include/exclude",
                              "check the file and the --param include/exclude patterns"});
  TempOutput tmp(temp_name(out));
  if (auto w = write_safetensors(tmp.path(), tensors, metadata); !w) return report_error(w.error());
  if (auto pub = tmp.publish(out); !pub) return report_error(pub.error());
  std::cout << "quantized " << quantized << " tensors to " << quantizer << "; wrote " << out.string() << "\n";
  return 0;
}

int run_quantize(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options of qrun quantize");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("M"), "model folder or hub id (loaded by the hf backend)")
      ("tensors", po::value<std::string>()->value_name("IN"), "a plain safetensors file instead of a model")
      ("quantizer", po::value<std::string>()->value_name("Q"), "a quantizer plugin (qrun plugins lists them)")
      ("defense", po::value<std::vector<std::string>>()->value_name("NAME[:k=v,...]"),
       "a defense applied before quantizing (repeatable, in order)")
      ("param", po::value<std::vector<std::string>>()->value_name("k=v"), "a quantizer parameter (repeatable)")
      ("out", po::value<std::string>()->value_name("DIR|FILE"),
       "output checkpoint folder (or .safetensors file; FILE.gguf etc. for a quantizer with an export parameter)")
      ("dequant", "with --tensors: also write NAME.dequant (float32)")
      ("dtype", po::value<std::string>()->default_value("auto"), "weight dtype the model is loaded in")
      ("device", po::value<std::string>()->default_value("cpu"), "device the model is loaded on")
      ("seed", po::value<std::uint64_t>()->default_value(0), "seed for defenses that draw random numbers")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun quantize", kUsage, "Quantizes a model or a tensor file", {}}, desc, vm)) return *done;
  const bool model = vm.count("model") > 0, tensors = vm.count("tensors") > 0;
  if (model == tensors)
    return report_error(Error{"qrun quantize", "give exactly one of --model and --tensors", std::string("usage: ") + kUsage});
  if (!vm.count("quantizer") || !vm.count("out"))
    return report_error(Error{"qrun quantize", "--quantizer and --out are required", std::string("usage: ") + kUsage});
  if (tensors && vm.count("defense"))
    return report_error(Error{"--defense", "applies to models, not to --tensors files", "quantize a --model instead"});
  if (model && vm.count("dequant"))
    return report_error(Error{"--dequant", "applies to --tensors files", "drop --dequant"});
  return run_reporting_errors("qrun quantize", [&] {
    return model ? quantize_model_folder(vm, global) : quantize_tensor_file(vm, global);
  });
}

}  // namespace

QRUN_CLI_COMMAND(cmd_quantize, {"quantize", "Quantize a model (or a safetensors file) with any quantizer plugin",
                                kUsage, run_quantize});

}  // namespace qrun::cli
