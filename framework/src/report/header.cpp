// Title, INCOMPLETE RUN banner, provenance and the variants overview.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "report/sections.hpp"

namespace qrun::report {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key, const std::string& fallback = "unknown") {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return fallback;
}

std::string code(const std::string& s) { return "`" + s + "`"; }

}  // namespace

std::string params_text(const json& params) {
  if (!params.is_object() || params.empty()) return "";
  std::string out;
  for (const auto& [k, v] : params.items()) {  // nlohmann::json objects iterate in key order
    if (!out.empty()) out += ", ";
    out += k + "=" + v.dump();
  }
  return out;
}

std::string transform_chain(const Variant& v) {
  if (v.transforms.empty()) return "none";
  std::string out;
  for (const auto& t : v.transforms) {
    if (!out.empty()) out += " → ";
    out += code(t.use.empty() ? "?" : t.use);
    if (auto p = params_text(t.params); !p.empty()) out += "(" + p + ")";
  }
  return out;
}

std::string render_incomplete_banner(const RunView& run) {
  if (run.complete) return "";
  std::string out = "> **⚠ INCOMPLETE RUN.** ";
  if (!run.marked_complete) out += "This results document is marked `complete: false`";
  else out += "This results document is marked complete but is not";
  std::size_t finished = 0;
  for (const auto& v : run.variants) finished += v.complete ? 1 : 0;
  out += ": " + std::to_string(finished) + " of " + std::to_string(run.variants.size()) + " variants finished.";
  if (!run.run_error.empty()) out += " The run stopped with: `" + run.run_error + "`.";
  if (!run.missing.empty()) {
    std::string cells;
    for (const auto& m : run.missing) {
      cells += (cells.empty() ? "" : "; ") + m.variant + ": ";
      for (std::size_t i = 0; i < m.labels.size(); ++i) cells += (i ? ", " : "") + m.labels[i];
    }
    out += " Missing cells (variant: metrics): " + cells + ".";
  }
  std::string unmarked;
  for (const auto& v : run.variants)
    if (!v.complete) unmarked += (unmarked.empty() ? "" : ", ") + v.name;
  if (!unmarked.empty()) out += " Not marked complete: " + unmarked + ".";
  out += " Missing cells are shown as \"—\" and criteria without data as n/a. Do not cite this report as a "
         "finished study; run the experiment again with the same output folder to resume it.\n\n";
  return out;
}

std::string render_header(const RunView& run) {
  const json& p = run.provenance;
  std::string out = "# " + run.title + "\n\n";
  out += render_incomplete_banner(run);

  Table t{{"Item", "Value"}, {Align::left, Align::left}, {}};
  t.row({"Experiment", (run.experiment_name.empty() ? std::string("unnamed") : run.experiment_name) +
                           (run.experiment_file.empty() ? "" : " (" + code(run.experiment_file) + ")")});
  std::string finished = p.contains("finished") && p["finished"].is_string() ? p["finished"].get<std::string>()
                                                                              : "not finished";
  t.row({"Date", str(p, "started") + " → " + finished});
  const json model = p.contains("model") && p["model"].is_object() ? p["model"] : json::object();
  const bool folder_differs = model.contains("folder") && str(model, "folder") != str(model, "name");
  t.row({"Model", code(str(model, "name")) + (folder_differs ? " in " + code(str(model, "folder")) : "")});
  if (model.contains("files") && model["files"].is_object())
    for (const auto& [file, sha] : model["files"].items())
      t.row({"Model file " + code(file), "sha256 " + code(sha.is_string() ? sha.get<std::string>() : sha.dump())});
  t.row({"Device", str(p, "device")});
  std::string qrun = str(p, "qrun_version");
  if (p.contains("git_commit") && p["git_commit"].is_string()) qrun += " (commit " + code(p["git_commit"].get<std::string>()) + ")";
  t.row({"qrun", qrun});
  t.row({"torch", str(p, "torch_version")});
  if (p.contains("host") && p["host"].is_string()) t.row({"Host", p["host"].get<std::string>()});
  if (p.contains("plugins") && p["plugins"].is_array())
    for (const auto& pl : p["plugins"])
      t.row({"Plugin " + code(str(pl, "id")), str(pl, "version") +
                                                   (pl.contains("path") ? " (" + code(str(pl, "path")) + ")" : "")});
  if (p.contains("datasets") && p["datasets"].is_array())
    for (const auto& d : p["datasets"])
      t.row({"Dataset " + code(str(d, "name")), code(str(d, "path")) + ", sha256 " + code(str(d, "sha256"))});
  out += render_table(t) + "\n";
  return out;
}

std::string render_variants_overview(const RunView& run) {
  const Variant* base = run.baseline();
  auto base_bytes = base ? base->storage_value("total_bytes") : std::nullopt;
  Table t{{"Variant", "Role", "Transforms", "Storage dtype", "Compute dtype", "Total size", "Compression", "Status"},
          {Align::left, Align::left, Align::left, Align::left, Align::left, Align::right, Align::right, Align::left},
          {}};
  for (const auto& v : run.variants) {
    auto bytes = v.storage_value("total_bytes");
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
