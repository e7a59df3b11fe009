// The run: baseline through the backend, variants as copies with their transform chains,
// per-model metrics per variant, comparison metrics in lockstep, results.json after every cell.
#include "runner/runner.hpp"

#include "registry/registry.hpp"
#include "report/report.hpp"
#include "results/declarations.hpp"
#include "results/results.hpp"
#include "runner/provenance.hpp"
#include "runner/results_doc.hpp"
#include <qrun/sha256.hpp>

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>

namespace qrun {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The only place exceptions are caught: a call into a plugin. Errors it returns and anything it
// throws come back as one Error whose thing starts with the plugin and the stage.
template <class F>
auto call_plugin(const std::string& plugin, const std::string& stage, F&& f) -> decltype(f()) {
  const std::string prefix = plugin + " (" + stage + ")";
  try {
    auto r = f();
    if (!r.ok()) return r.error().within(prefix);
    return r;
  } catch (const ErrorException& e) {
    return e.error().within(prefix);
  } catch (const c10::Error& e) {
    return Error{prefix, std::string("torch error: ") + e.what_without_backtrace(),
                 "a failure inside the plugin; check the model, device and parameters, or report it", ErrorCode::internal};
  } catch (const std::exception& e) {
    return Error{prefix, std::string("exception: ") + e.what(),
                 "a failure inside the plugin; check its parameters, or report it", ErrorCode::internal};
  }
}

// Each plugin call starts from a global torch RNG state derived from the seed and the cell, so a
// cell's numbers do not depend on which other cells ran before it (resume = fresh run).
void seed_cell(std::uint64_t seed, const std::string& cell) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64-bit offset basis
  for (unsigned char c : cell) h = (h ^ c) * 1099511628211ull;
  at::manual_seed(seed ^ h);
}

Result<c10::Device> context_device(const PluginUse& model) {
  auto it = model.params.find("device");
  if (it == model.params.end() || !std::holds_alternative<std::string>(it->second)) return c10::Device(c10::kCPU);
  const std::string& s = std::get<std::string>(it->second);
  if (s == "auto") return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  try {
    return c10::Device(s);
  } catch (const c10::Error&) {
    return Error{model.where + " model.device", "'" + s + "' is not a device", "use \"auto\", \"cpu\" or \"cuda:N\""};
  }
}

std::string seconds(Clock::time_point since) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(Clock::now() - since).count());
}

std::string headline(const MetricResult& r) {
  for (const MetricValue& v : r.values) {
    if (!v.group.empty()) continue;
    std::string s = fmt::format("{} = {:.6g}", v.name, v.value);
    if (v.stderr_) s += fmt::format(" ± {:.2g}", *v.stderr_);
    if (!v.unit.empty()) s += " " + v.unit;
    return s + fmt::format(" (n={})", v.n);
  }
  return fmt::format("{} values", r.values.size());
}

class Run {
 public:
  Run(const Plan& plan, const Registry& registry, const RunOptions& options)
      : plan_(plan), registry_(registry), options_(options) {}

  Result<RunSummary> execute() {
    summary_.output_dir = plan_.output_dir;
    summary_.results_file = plan_.output_dir / "results.json";
    for (const MetricEntry& m : plan_.metrics) QRUN_TRY(check_spec(m.spec, "metric plugin " + m.use));
    QRUN_TRY(prepare_datasets());
    doc_ = runner::new_results(plan_, registry_, options_.started);
    doc_.provenance.datasets = dataset_records_;
    QRUN_TRY(resume());
    // A report from an earlier attempt must not outlive results it no longer matches.
    std::error_code ec;
    std::filesystem::remove(plan_.output_dir / "report.md", ec);
    QRUN_TRY(persist());
    spdlog::info("results: {} (to resume after an interruption: the same command with --output {})",
                 summary_.results_file.string(), plan_.output_dir.string());

    Result<void> body = run_missing_cells();
    if (!body) {
      doc_.complete = false;
      doc_.error = body.error().message();  // the report quotes it in its INCOMPLETE RUN banner
      auto saved = persist();
      if (!saved) spdlog::error("{}", saved.error().message());
      write_partial_report();
      return body.error();
    }
    runner::update_completeness(doc_, plan_);
    doc_.provenance.finished = runner::utc_timestamp(std::chrono::system_clock::now());
    doc_.complete = true;
    QRUN_TRY(persist());
    if (options_.write_report) QRUN_TRY(write_report());
    return summary_;
  }

 private:
  Result<void> prepare_datasets() {
    for (std::size_t i = 0; i < plan_.datasets.size(); ++i) {
      const DatasetEntry& d = plan_.datasets[i];
      std::error_code ec;
      if (!std::filesystem::is_regular_file(d.path, ec)) {
        return Error{d.where + " datasets[" + std::to_string(i) + "].path",
                     "no file '" + d.path.string() + "' (relative paths resolve against the current folder " +
                         std::filesystem::current_path().string() + ")",
                     "get the data set (see README: Data) or point to it with --set datasets[" + std::to_string(i) +
                         "].path=/path/to/file",
                     ErrorCode::not_found};
      }
      auto sha = sha256_file(d.path);
      if (!sha) return sha.error();
      datasets_.push_back(Dataset{d.name, std::filesystem::absolute(d.path), *sha});
      dataset_records_.push_back({d.name, d.path.string(), *sha});
    }
    return {};
  }

  Result<void> resume() {
    std::error_code ec;
    if (options_.fresh || !std::filesystem::exists(summary_.results_file, ec)) return {};
    auto old = read_results(summary_.results_file);
    if (!old) {
      Error err = old.error();
      err.fix = "rerun with --fresh to overwrite it, or write to another folder with --output DIR";
      return err;
    }
    auto taken = runner::merge_previous(doc_, *old, summary_.results_file);
    if (!taken) return taken.error();
    summary_.cells_reused = *taken;
    spdlog::info("resuming {}: {} finished cells reused", summary_.results_file.string(), *taken);
    return {};
  }

  Result<void> persist() { return write_json_atomic(summary_.results_file, to_json(doc_)); }

  const Dataset* dataset_of(const MetricEntry& m) const {
    if (!m.dataset) return nullptr;
    for (const Dataset& d : datasets_) {
      if (d.name == *m.dataset) return &d;
    }
    return nullptr;
  }

  bool variant_needs_model(const PlannedVariant& v) {
    const VariantRecord& vd = runner::variant_of(doc_, v.name);
    for (const MetricEntry& m : plan_.metrics) {
      if (!runner::has_cell(vd, m.label)) return true;
    }
    return false;
  }

  Result<std::unique_ptr<Model>> load_source(RunContext& ctx) {
    spdlog::info("loading model through backend '{}'", plan_.model.use);
    const auto t0 = Clock::now();
    seed_cell(plan_.seed, "backend");
    auto backend = call_plugin(plan_.model.use, "create backend", [&] { return registry_.make_backend(plan_.model.use, plan_.model.params); });
    if (!backend) return backend.error();
    auto model = call_plugin(plan_.model.use, "load model", [&] { return (*backend)->load(ctx); });
    if (!model) return model.error();
    const Model& m = **model;
    ModelRecord record{m.source().name, m.source().folder.string(), {}};
    for (const auto& [name, sha] : m.source().file_sha256) record.files[name] = sha;
    const std::optional<ModelRecord>& old = doc_.provenance.model;
    if (old && old->files != record.files) {
      return Error{m.source().folder.string(), "its files changed since " + summary_.results_file.string() + " was written",
                   "rerun with --fresh to recompute everything with this model, or restore the old files"};
    }
    doc_.provenance.model = std::move(record);
    doc_.provenance.device = runner::device_name(m.device());
    spdlog::info("model {} loaded on {} in {} (compute {}, storage {})", m.source().name, m.device().str(), seconds(t0),
                 to_string(m.compute_dtype()), to_string(m.storage_dtype()));
    return model;
  }

  // A copy of the source model with the variant's transform chain applied; records the reports.
  Result<std::unique_ptr<Model>> build_variant(const Model& source, const PlannedVariant& v, RunContext& ctx) {
    auto copy = call_plugin(plan_.model.use, "clone model for variant " + v.name, [&] { return source.clone(); });
    if (!copy) return copy.error();
    VariantRecord& vd = runner::variant_of(doc_, v.name);
    for (std::size_t i = 0; i < v.chain.size(); ++i) {
      const TransformEntry& t = v.chain[i];
      const std::string stage = "transform " + std::to_string(i) + " of variant " + v.name;
      const auto t0 = Clock::now();
      seed_cell(plan_.seed, v.name + "/transform/" + std::to_string(i));
      auto transform = call_plugin(t.use, stage, [&] { return registry_.make_transform(t.use, t.params); });
      if (!transform) return transform.error();
      auto report = call_plugin(t.use, stage, [&] { return (*transform)->apply(**copy, ctx); });
      if (!report) return report.error();
      vd.transforms[i].summary = report->summary;
      vd.transforms[i].details = report->details.is_null() ? json::object() : report->details;
      spdlog::info("  {}: {} [{}]", t.use, report->summary, seconds(t0));
    }
    return copy;
  }

  void record_model_facts(const std::string& variant, Model& model) {
    VariantRecord& vd = runner::variant_of(doc_, variant);
    vd.storage = model_storage(model);
    vd.compute_dtype = std::string(to_string(model.compute_dtype()));
    vd.storage_dtype = std::string(to_string(model.storage_dtype()));
  }

  // Runs `m` on the given variants in one call and stores one cell per variant.
  Result<void> run_metric(const MetricEntry& m, Model& baseline, const std::vector<VariantModel>& variants,
                          RunContext& ctx) {
    const std::string names = [&] {
      std::string s;
      for (const auto& v : variants) s += (s.empty() ? "" : ", ") + v.name;
      return s;
    }();
    const std::string stage = "metric " + m.label + " on " + names;
    spdlog::info("metric {} on {}", m.label, names);
    const auto t0 = Clock::now();
    seed_cell(plan_.seed, names + "/metric/" + m.label);
    auto metric = call_plugin(m.use, stage, [&] { return registry_.make_metric(m.use, m.params); });
    if (!metric) return metric.error();
    MetricInputs in{&baseline, variants, dataset_of(m)};
    auto results = call_plugin(m.use, stage, [&] { return (*metric)->evaluate(in, ctx); });
    if (!results) return results.error();
    if (results->size() != variants.size()) {
      return Error{m.use + " (" + stage + ")",
                   "returned " + std::to_string(results->size()) + " results for " + std::to_string(variants.size()) +
                       " variants",
                   "the plugin must return one MetricResult per entry of MetricInputs::variants", ErrorCode::internal};
    }
    for (std::size_t i = 0; i < variants.size(); ++i) {
      auto cell = runner::metric_cell(m, (*results)[i], m.spec, variants[i].name);
      if (!cell) return cell.error();
      runner::variant_of(doc_, variants[i].name).metrics[m.label] = std::move(*cell);
      ++summary_.cells_computed;
      spdlog::info("  {} / {}: {} [{}]", variants[i].name, m.label, headline((*results)[i]), seconds(t0));
    }
    runner::update_completeness(doc_, plan_);
    return persist();
  }

  Result<void> run_missing_cells() {
    summary_.cells_total = static_cast<int>(plan_.variants.size() * plan_.metrics.size());
    std::vector<const PlannedVariant*> todo;
    for (const PlannedVariant& v : plan_.variants) {
      if (variant_needs_model(v)) todo.push_back(&v);
    }
    if (todo.empty()) {
      spdlog::info("every cell is already in {}; nothing to compute", summary_.results_file.string());
      return {};
    }
    auto device = context_device(plan_.model);
    if (!device) return device.error();
    std::unique_ptr<RunContext> ctx = make_default_context(plan_.seed, *device);

    auto source = load_source(*ctx);
    if (!source) return source.error();
    // The baseline is always needed: every metric receives it. Built like any variant, except
    // that without transforms it is the loaded model itself.
    const PlannedVariant& base = plan_.variants.front();
    std::unique_ptr<Model> base_owned;
    Model* baseline = source->get();
    if (!base.chain.empty()) {
      spdlog::info("[baseline] {}: applying {} transforms", base.name, base.chain.size());
      auto built = build_variant(**source, base, *ctx);
      if (!built) return built.error();
      base_owned = std::move(*built);
      baseline = base_owned.get();
    }
    record_model_facts(base.name, *baseline);

    std::map<std::string, std::unique_ptr<Model>> kept;  // variants awaiting comparison metrics
    for (std::size_t k = 0; k < plan_.variants.size(); ++k) {
      const PlannedVariant& v = plan_.variants[k];
      if (std::find(todo.begin(), todo.end(), &v) == todo.end()) {
        spdlog::info("[{}/{}] {}: every metric already done, reused", k + 1, plan_.variants.size(), v.name);
        continue;
      }
      spdlog::info("[{}/{}] variant {}{}", k + 1, plan_.variants.size(), v.name, v.baseline ? " (baseline)" : "");
      Model* model = baseline;
      std::unique_ptr<Model> owned;
      if (!v.baseline) {
        auto built = build_variant(**source, v, *ctx);
        if (!built) return built.error();
        owned = std::move(*built);
        model = owned.get();
        record_model_facts(v.name, *model);
      }
      for (const MetricEntry& m : plan_.per_model) {
        if (runner::has_cell(runner::variant_of(doc_, v.name), m.label)) continue;
        QRUN_TRY(run_metric(m, *baseline, {VariantModel{v.name, model, v.baseline}}, *ctx));
      }
      bool awaits_comparison = false;
      for (const MetricEntry& m : plan_.comparison) {
        awaits_comparison = awaits_comparison || !runner::has_cell(runner::variant_of(doc_, v.name), m.label);
      }
      if (owned && awaits_comparison) kept.emplace(v.name, std::move(owned));
    }

    for (const MetricEntry& m : plan_.comparison) {
      std::vector<VariantModel> missing;
      for (const PlannedVariant& v : plan_.variants) {
        if (runner::has_cell(runner::variant_of(doc_, v.name), m.label)) continue;
        Model* model = v.baseline ? baseline : kept.at(v.name).get();
        missing.push_back(VariantModel{v.name, model, v.baseline});
      }
      if (missing.empty()) continue;
      QRUN_TRY(run_metric(m, *baseline, missing, *ctx));
    }
    return {};
  }

  Result<void> write_report() {
    auto files = render_report(doc_);
    if (!files) return files.error().within("report");
    auto written = write_report_files(plan_.output_dir, *files);
    if (!written) return written.error().within("report");
    spdlog::info("report: {}", (plan_.output_dir / "report.md").string());
    return {};
  }

  // After a failure: a report that says it is partial, or none at all.
  void write_partial_report() {
    if (!options_.write_report) return;
    auto files = render_report(doc_);
    if (files && write_report_files(plan_.output_dir, *files)) {
      spdlog::warn("partial report (marked incomplete): {}", (plan_.output_dir / "report.md").string());
      return;
    }
    std::error_code ec;
    std::filesystem::remove(plan_.output_dir / "report.md", ec);
  }

  const Plan& plan_;
  const Registry& registry_;
  const RunOptions& options_;
  Results doc_;
  std::vector<Dataset> datasets_;
  std::vector<DatasetRecord> dataset_records_;
  RunSummary summary_;
};

}  // namespace

Result<RunSummary> run_experiment(const Plan& plan, const Registry& registry, const RunOptions& options) {
  return Run(plan, registry, options).execute();
}

}  // namespace qrun
