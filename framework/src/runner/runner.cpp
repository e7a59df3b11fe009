// The run: the plan's cells, the ones this process owns and the folder lacks computed one by one,
// each published as a file, results.json assembled from the folder after every cell.
#include "runner/runner.hpp"

#include "registry/registry.hpp"
#include "report/report.hpp"
#include "results/declarations.hpp"
#include "results/results.hpp"
#include "runner/assemble.hpp"
#include "runner/cell_key.hpp"
#include "runner/cell_store.hpp"
#include "runner/provenance.hpp"
#include "runner/results_doc.hpp"
#include "runner/run_folder.hpp"

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
// cell's numbers do not depend on which other cells ran before it, in which process or shard.
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

double seconds_since(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }
std::string seconds(Clock::time_point since) { return fmt::format("{:.1f} s", seconds_since(since)); }

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
      : plan_(plan), registry_(registry), options_(options), store_(plan.output_dir), model_use_(plan.model) {
    if (options_.device && model_use_.params.count("device")) model_use_.params["device"] = *options_.device;
  }

  // Sets up the folder: cell keys, the session record, the first results.json.
  Result<void> open(const std::string& session_kind) {
    summary_.output_dir = plan_.output_dir;
    summary_.results_file = plan_.output_dir / "results.json";
    for (const MetricEntry& m : plan_.metrics) QRUN_TRY(check_spec(m.spec, "metric plugin " + m.use));
    QRUN_ASSIGN_OR_RETURN(cells_, runner::plan_cells(plan_, registry_, plan_.output_dir / ".hashes"));
    for (const DatasetRecord& d : cells_.datasets)
      datasets_.push_back(Dataset{d.name, std::filesystem::absolute(d.path), d.sha256});
    const std::string shard = options_.shard.whole() ? "" : options_.shard.text();
    auto session = runner::write_session(plan_.output_dir, runner::make_identity(plan_.experiment_file, plan_.overrides),
                                         options_.plugin_paths, shard,
                                         session_kind.empty() ? std::nullopt : std::optional<std::string>(session_kind));
    if (!session) return session.error();
    summary_.cells_total = static_cast<int>(cells_.cells.size());
    return {};
  }

  Result<RunSummary> execute() {
    QRUN_TRY(open(""));
    std::vector<std::size_t> todo;
    const std::vector<int> owner = runner::assign_shards(plan_, cells_.cells, options_.shard.count);
    for (std::size_t i = 0; i < cells_.cells.size(); ++i) {
      if (owner[i] != options_.shard.index) continue;
      ++summary_.cells_owned;
      if (!options_.fresh && store_.has(cells_.cells[i].key)) ++summary_.cells_reused;
      else todo.push_back(i);
    }
    spdlog::info("run folder {}: {} cells in the plan{}, {} already done, {} to compute{}", plan_.output_dir.string(),
                 summary_.cells_total,
                 options_.shard.whole() ? "" : fmt::format(", {} in shard {}", summary_.cells_owned, options_.shard.text()),
                 summary_.cells_reused, todo.size(), options_.fresh ? " (--fresh)" : "");
    QRUN_TRY(persist(false));

    Result<void> body = compute(todo);
    if (!body) {
      auto saved = persist(false, body.error().message());
      if (!saved) spdlog::error("{}", saved.error().message());
      if (options_.shard.whole()) write_partial_report();
      return body.error();
    }
    QRUN_TRY(finish());
    return summary_;
  }

  Result<RunSummary> merge() {
    QRUN_TRY(open("merge"));
    QRUN_TRY(finish());
    return summary_;
  }

 private:
  // Writes results.json as the folder stands; at the end, marks it complete when it is.
  Result<void> persist(bool final_write, const std::string& error = "") {
    auto a = runner::assemble_results(plan_, registry_, cells_, store_, options_.started,
                                      runner::read_sessions(plan_.output_dir), &cache_);
    summary_.cells_present = a.present;
    summary_.complete = a.doc.complete;
    if (!error.empty()) a.doc.error = error;
    if (!a.doc.complete) {
      // A report must not outlive results it no longer matches.
      std::error_code ec;
      std::filesystem::remove(plan_.output_dir / "report.md", ec);
    } else if (final_write) {
      a.doc.provenance.finished = runner::utc_timestamp(std::chrono::system_clock::now());
    } else {
      a.doc.complete = false;  // only the final write of a process says complete
    }
    QRUN_TRY(write_json_atomic(summary_.results_file, to_json(a.doc)));
    doc_ = std::move(a.doc);
    missing_ = std::move(a.missing);
    return {};
  }

  Result<void> finish() {
    QRUN_TRY(persist(true));
    if (summary_.complete) {
      if (options_.write_report) QRUN_TRY(write_report());
      return {};
    }
    std::string list;
    for (std::size_t i = 0; i < missing_.size() && i < 5; ++i) list += (i ? ", " : "") + runner::cell_name(plan_, cells_.cells[missing_[i]]);
    if (missing_.size() > 5) list += ", …";
    spdlog::info("{} of {} cells are in {}; not yet: {} (other shards; `qrun merge {}` once they are done)", summary_.cells_present,
                 summary_.cells_total, plan_.output_dir.string(), list, plan_.output_dir.string());
    return {};
  }

  const Dataset* dataset_of(const MetricEntry& m) const {
    if (!m.dataset) return nullptr;
    for (const Dataset& d : datasets_)
      if (d.name == *m.dataset) return &d;
    return nullptr;
  }

  Result<std::unique_ptr<Model>> load_source(RunContext& ctx) {
    spdlog::info("loading model through backend '{}'", model_use_.use);
    const auto t0 = Clock::now();
    seed_cell(plan_.seed, "backend");
    auto backend = call_plugin(model_use_.use, "create backend", [&] { return registry_.make_backend(model_use_.use, model_use_.params); });
    if (!backend) return backend.error();
    auto model = call_plugin(model_use_.use, "load model", [&] { return (*backend)->load(ctx); });
    if (!model) return model.error();
    const Model& m = **model;
    ModelRecord record{m.source().name, m.source().folder.string(), {}};
    for (const auto& [name, sha] : m.source().file_sha256) record.files[name] = sha;
    // The key was made from the files as they were before loading; they must not have changed.
    const json& keyed = cells_.model["files"];
    for (const auto& [name, sha] : record.files)
      if (keyed.contains(name) && keyed[name] != sha)
        return Error{m.source().folder.string() + "/" + name, "changed while this run started",
                     "run again once the model files are no longer being written"};
    model_record_ = std::move(record);
    device_name_ = runner::device_name(m.device());
    spdlog::info("model {} loaded on {} in {} (compute {}, storage {})", m.source().name, m.device().str(), seconds(t0),
                 to_string(m.compute_dtype()), to_string(m.storage_dtype()));
    return model;
  }

  // A copy of the source model with the variant's transform chain applied; records the reports.
  Result<std::unique_ptr<Model>> build_variant(const Model& source, const PlannedVariant& v, VariantRecord& record,
                                               RunContext& ctx) {
    auto copy = call_plugin(model_use_.use, "clone model for variant " + v.name, [&] { return source.clone(); });
    if (!copy) return copy.error();
    for (std::size_t i = 0; i < v.chain.size(); ++i) {
      const TransformEntry& t = v.chain[i];
      const std::string stage = "transform " + std::to_string(i) + " of variant " + v.name;
      const auto t0 = Clock::now();
      seed_cell(plan_.seed, v.name + "/transform/" + std::to_string(i));
      auto transform = call_plugin(t.use, stage, [&] { return registry_.make_transform(t.use, t.params); });
      if (!transform) return transform.error();
      auto report = call_plugin(t.use, stage, [&] { return (*transform)->apply(**copy, ctx); });
      if (!report) return report.error();
      record.transforms[i].summary = report->summary;
      record.transforms[i].details = report->details.is_null() ? json::object() : report->details;
      spdlog::info("  {}: {} [{}]", t.use, report->summary, seconds(t0));
    }
    return copy;
  }

  static void record_model_facts(VariantRecord& record, Model& model) {
    record.storage = model_storage(model);
    record.compute_dtype = std::string(to_string(model.compute_dtype()));
    record.storage_dtype = std::string(to_string(model.storage_dtype()));
  }

  // One cell: the metric on one variant (with the baseline beside it), published as a file.
  Result<void> run_cell(const runner::PlannedCell& pc, Model& baseline, Model& model, const VariantRecord& facts,
                        RunContext& ctx) {
    const PlannedVariant& v = plan_.variants[pc.variant];
    const MetricEntry& m = plan_.metrics[pc.metric];
    const std::string stage = "metric " + m.label + " on " + v.name;
    runner::CellMarker me = runner::this_process(options_.shard.whole() ? "" : options_.shard.text());
    QRUN_TRY(store_.mark_running(pc.key, me));
    auto outcome = [&]() -> Result<MetricCell> {
      spdlog::info("metric {} on {}", m.label, v.name);
      seed_cell(plan_.seed, v.name + "/metric/" + m.label);
      auto metric = call_plugin(m.use, stage, [&] { return registry_.make_metric(m.use, m.params); });
      if (!metric) return metric.error();
      MetricInputs in{&baseline, {VariantModel{v.name, &model, v.baseline}}, dataset_of(m)};
      auto results = call_plugin(m.use, stage, [&] { return (*metric)->evaluate(in, ctx); });
      if (!results) return results.error();
      if (results->size() != 1)
        return Error{m.use + " (" + stage + ")", "returned " + std::to_string(results->size()) + " results for 1 variant",
                     "the plugin must return one MetricResult per entry of MetricInputs::variants", ErrorCode::internal};
      return runner::metric_cell(m, std::move(results->front()), m.spec, v.name);
    };
    const auto t0 = Clock::now();
    auto cell = outcome();
    if (!cell) {
      me.error = cell.error().message();
      (void)store_.mark_failed(pc.key, me);
      return cell.error();
    }
    spdlog::info("  {} / {}: {} [{}]", v.name, m.label, headline(cell->result), seconds(t0));
    runner::StoredCell sc{pc.key, v.name, m.label, facts, model_record_, device_name_, json::object()};
    sc.record.metrics.clear();
    sc.record.metrics[m.label] = std::move(*cell);
    sc.record.complete = false;
    sc.computed = {{"host", me.host}, {"pid", me.pid}, {"shard", me.shard}, {"job", me.job}, {"started", me.started},
                   {"finished", runner::utc_timestamp(std::chrono::system_clock::now())}, {"seconds", seconds_since(t0)}};
    QRUN_TRY(store_.write(sc, pc.material));
    cache_[pc.key] = std::move(sc);
    ++summary_.cells_computed;
    return persist(false);
  }

  Result<void> compute(const std::vector<std::size_t>& todo) {
    if (todo.empty()) return {};
    auto device = context_device(model_use_);
    if (!device) return device.error();
    std::unique_ptr<RunContext> ctx = make_default_context(plan_.seed, *device);
    auto source = load_source(*ctx);
    if (!source) return source.error();
    // Every metric receives the baseline, so every process builds it (same seeds: same model).
    const PlannedVariant& base = plan_.variants.front();
    VariantRecord base_facts = runner::variant_of(doc_, base.name);
    std::unique_ptr<Model> base_owned;
    Model* baseline = source->get();
    if (!base.chain.empty()) {
      spdlog::info("[baseline] {}: applying {} transforms", base.name, base.chain.size());
      auto built = build_variant(**source, base, base_facts, *ctx);
      if (!built) return built.error();
      base_owned = std::move(*built);
      baseline = base_owned.get();
    }
    record_model_facts(base_facts, *baseline);

    for (std::size_t k = 0; k < plan_.variants.size(); ++k) {
      std::vector<std::size_t> mine;
      for (std::size_t i : todo)
        if (cells_.cells[i].variant == k) mine.push_back(i);
      if (mine.empty()) continue;
      const PlannedVariant& v = plan_.variants[k];
      spdlog::info("[{}/{}] variant {}{}: {} cells", k + 1, plan_.variants.size(), v.name, v.baseline ? " (baseline)" : "",
                   mine.size());
      Model* model = baseline;
      VariantRecord facts = v.baseline ? base_facts : runner::variant_of(doc_, v.name);
      std::unique_ptr<Model> owned;
      if (!v.baseline) {
        auto built = build_variant(**source, v, facts, *ctx);
        if (!built) return built.error();
        owned = std::move(*built);
        model = owned.get();
        record_model_facts(facts, *model);
      }
      for (std::size_t i : mine) QRUN_TRY(run_cell(cells_.cells[i], *baseline, *model, facts, *ctx));
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
  runner::CellStore store_;
  PluginUse model_use_;  // the plan's backend, with the worker's device
  runner::CellPlan cells_;
  std::map<std::string, runner::StoredCell> cache_;
  Results doc_;
  std::vector<std::size_t> missing_;
  std::vector<Dataset> datasets_;
  std::optional<ModelRecord> model_record_;
  std::optional<std::string> device_name_;
  RunSummary summary_;
};

}  // namespace

Result<RunSummary> run_experiment(const Plan& plan, const Registry& registry, const RunOptions& options) {
  return Run(plan, registry, options).execute();
}

Result<RunSummary> merge_run(const Plan& plan, const Registry& registry, const RunOptions& options) {
  return Run(plan, registry, options).merge();
}

}  // namespace qrun
