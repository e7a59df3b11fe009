// Title, banners, provenance (with the run's --set overrides) and the variants overview.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

std::string code(const std::string& s) { return "`" + s + "`"; }
std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

}  // namespace

std::string params_text(const nlohmann::json& params) {
  if (!params.is_object() || params.empty()) return "";
  std::string out;
  for (const auto& [k, v] : params.items()) {  // nlohmann::json objects iterate in key order
    if (!out.empty()) out += ", ";
    out += k + "=" + v.dump();
  }
  return out;
}

std::string transform_chain(const VariantRecord& v) {
  if (v.transforms.empty()) return "none";
  std::string out;
  for (const TransformRecord& t : v.transforms) {
    if (!out.empty()) out += " → ";
    out += code(t.use.empty() ? "?" : t.use);
    if (auto p = params_text(t.params); !p.empty()) out += "(" + p + ")";
  }
  return out;
}

std::string render_header(const RunView& run) {
  const Provenance& p = run.doc.provenance;
  std::string out = "# " + run.title + "\n\n";
  out += render_incomplete_banner(run);
  out += render_reduced_banner(run);

  Table t{{"Item", "Value"}, {Align::left, Align::left}, {}};
  t.row({"Experiment", (run.experiment_name.empty() ? std::string("unnamed") : run.experiment_name) +
                           (run.doc.experiment_file.empty() ? "" : " (" + code(run.doc.experiment_file) + ")")});
  if (!p.overrides.empty()) {
    std::string list;
    for (const std::string& o : p.overrides) list += (list.empty() ? "" : ", ") + code(o);
    t.row({"Overrides (`--set`)", list});
  }
  t.row({"Date", or_unknown(p.first_started ? *p.first_started : p.started) + " → " + p.finished.value_or("not finished")});
  for (const SessionRecord& s : p.sessions)  // the first start and every resumption, shard, merge
    t.row({"Session (" + s.kind + ")", s.started + (s.host.empty() ? "" : " on " + s.host) +
                                           (s.shard.empty() ? "" : ", shard " + s.shard) + (s.job.empty() ? "" : ", job " + s.job)});
  if (p.model) {
    const bool folder_differs = !p.model->folder.empty() && p.model->folder != p.model->name;
    t.row({"Model", code(or_unknown(p.model->name)) + (folder_differs ? " in " + code(p.model->folder) : "")});
    for (const auto& [file, sha] : p.model->files) t.row({"Model file " + code(file), "sha256 " + code(sha)});
  } else {
    t.row({"Model", code("unknown")});
  }
  t.row({"Device", p.device.value_or("unknown")});
  std::string qrun = or_unknown(p.qrun_version);
  if (p.git_commit) qrun += " (commit " + code(*p.git_commit) + ")";
  t.row({"qrun", qrun});
  t.row({"torch", or_unknown(p.torch_version)});
  if (!p.host.empty()) t.row({"Host", p.host});
  for (const PluginRecord& pl : p.plugins)
    t.row({"Plugin " + code(or_unknown(pl.id)), or_unknown(pl.version) + (pl.path.empty() ? "" : " (" + code(pl.path) + ")")});
  for (const DatasetRecord& d : p.datasets)
    t.row({"Dataset " + code(or_unknown(d.name)), code(or_unknown(d.path)) + ", sha256 " + code(or_unknown(d.sha256))});
  out += render_table(t) + "\n";
  return out;
}

std::string render_variants_overview(const RunView& run) {
  const VariantRecord* base = run.baseline();
  auto bytes_of = [](const VariantRecord* v) -> std::optional<double> {
    if (!v || !v->storage) return std::nullopt;
    return static_cast<double>(v->storage->total_bytes);
  };
  const auto base_bytes = bytes_of(base);
  Table t{{"Variant", "Role", "Transforms", "Storage dtype", "Compute dtype", "Total size", "Compression", "Status"},
          {Align::left, Align::left, Align::left, Align::left, Align::left, Align::right, Align::right, Align::left},
          {}};
  for (const VariantRecord& v : run.variants()) {
    const auto bytes = bytes_of(&v);
    std::string compression = "—";
    if (bytes && base_bytes && *bytes > 0) compression = fmt_num(*base_bytes / *bytes) + "×";
    t.row({"**" + v.name + "**", v.baseline ? "baseline" : "variant", transform_chain(v),
           v.storage_dtype.empty() ? "—" : v.storage_dtype, v.compute_dtype.empty() ? "—" : v.compute_dtype,
           bytes ? fmt_bytes(*bytes) : "—", compression, v.complete ? "complete" : "**incomplete**"});
  }
  std::string out = "## Variants\n\n" + render_table(t) + "\n";
  if (!base) out += "_No variant is marked as baseline: Δ columns and criteria that need one are n/a._\n\n";
  else out += "Compression is the baseline's total bytes over the variant's (storage accounting of the loaded tensors).\n\n";
  return out;
}

}  // namespace qrun::report
