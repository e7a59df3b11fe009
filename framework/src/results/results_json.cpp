// Results <-> results.json (schema in results/results.hpp): values, cells, variants, provenance.
#include "results/declarations.hpp"
#include "results/results.hpp"

#include <algorithm>
#include <cmath>

namespace qrun {

namespace {

using json = nlohmann::json;

std::optional<Better> parse_better(const std::string& s) {
  if (s == "higher") return Better::higher;
  if (s == "lower") return Better::lower;
  if (s == "none") return Better::none;
  return std::nullopt;
}

const std::string kFix = "write results.json with qrun (do not edit it by hand) or rerun with --fresh";

Error bad(const std::string& thing, const std::string& reason) {
  return Error::of(ErrorCode::corrupt_input, thing, reason, kFix);
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
std::optional<std::string> opt_str(const json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return std::nullopt;
}
json opt_json(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// One value; errors name the field by its key ("value", "better").
Result<MetricValue> parse_value(const json& j) {
  if (!j.is_object()) return bad("", "is not an object");
  MetricValue v;
  if (!j.contains("name") || !j["name"].is_string()) return bad("name", "is missing or not a string");
  v.name = j["name"].get<std::string>();
  // JSON has no NaN/Inf: writers store a non-finite number as null, read back as NaN.
  if (j.contains("value") && j["value"].is_null()) v.value = std::nan("");
  else if (j.contains("value") && j["value"].is_number()) v.value = j["value"].get<double>();
  else return bad("value", "is missing or not a number");
  if (j.contains("stderr") && !j["stderr"].is_null()) {
    if (!j["stderr"].is_number()) return bad("stderr", "is not a number or null");
    v.stderr_ = j["stderr"].get<double>();
  }
  if (j.contains("n")) {
    if (!j["n"].is_number_integer()) return bad("n", "is not an integer");
    v.n = j["n"].get<std::int64_t>();
  }
  v.unit = str(j, "unit");
  if (j.contains("better")) {
    auto b = j["better"].is_string() ? parse_better(j["better"].get<std::string>()) : std::nullopt;
    if (!b) return bad("better", "is " + j["better"].dump() + ", expected \"higher\", \"lower\" or \"none\"");
    v.better = *b;
  }
  v.group = str(j, "group");
  return v;
}

Result<MetricCell> parse_cell(const json& j) {
  if (!j.is_object()) return bad("", "is not an object");
  MetricCell c;
  c.use = str(j, "use");
  c.dataset = opt_str(j, "dataset");
  if (j.contains("params") && j["params"].is_object()) c.params = j["params"];
  QRUN_ASSIGN_OR_RETURN(c.result, metric_result_from_json(j));
  return c;
}

std::optional<ModelStorage> parse_storage(const json& j) {
  if (!j.is_object()) return std::nullopt;
  ModelStorage s;
  auto num = [&](const char* key, std::int64_t& out) {
    if (j.contains(key) && j[key].is_number()) out = static_cast<std::int64_t>(j[key].get<double>());
  };
  num("total_bytes", s.total_bytes);
  num("linear_bytes", s.linear_bytes);
  num("quantized_linear_bytes", s.quantized_linear_bytes);
  num("hf_footprint_bytes", s.hf_footprint_bytes);
  num("parameters", s.parameters);
  return s;
}

Result<VariantRecord> parse_variant(const json& j) {
  if (!j.is_object()) return bad("", "is not an object");
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    return bad("name", "is missing or empty");
  VariantRecord v;
  v.name = j["name"].get<std::string>();
  v.baseline = j.value("baseline", false);
  v.complete = j.value("complete", false);
  if (j.contains("transforms") && j["transforms"].is_array())
    for (const json& t : j["transforms"]) {
      TransformRecord r;
      r.use = str(t, "use");
      r.role = str(t, "role");
      if (t.is_object() && t.contains("params") && t["params"].is_object()) r.params = t["params"];
      r.summary = opt_str(t, "summary");
      if (t.is_object() && t.contains("details")) r.details = t["details"];
      v.transforms.push_back(std::move(r));
    }
  if (j.contains("storage")) v.storage = parse_storage(j["storage"]);
  v.compute_dtype = str(j, "compute_dtype");
  v.storage_dtype = str(j, "storage_dtype");
  if (j.contains("metrics")) {
    if (!j["metrics"].is_object()) return bad("metrics", "is not an object");
    for (const auto& [label, cj] : j["metrics"].items()) {
      auto c = parse_cell(cj);
      if (!c) return c.error().within("metrics." + label, ".");
      v.metrics.emplace(label, std::move(*c));
    }
  }
  return v;
}

Provenance parse_provenance(const json& p) {
  Provenance out;
  out.qrun_version = str(p, "qrun_version");
  out.torch_version = str(p, "torch_version");
  out.host = str(p, "host");
  out.started = str(p, "started");
  out.git_commit = opt_str(p, "git_commit");
  out.device = opt_str(p, "device");
  out.finished = opt_str(p, "finished");
  out.first_started = opt_str(p, "first_started");
  if (!p.is_object()) return out;
  if (p.contains("plugins") && p["plugins"].is_array())
    for (const json& pl : p["plugins"]) {
      PluginRecord r{str(pl, "id"), str(pl, "version"), str(pl, "path"), str(pl, "torch_version"), {}};
      if (pl.is_object() && pl.contains("components") && pl["components"].is_array())
        for (const json& c : pl["components"])
          if (c.is_string()) r.components.push_back(c.get<std::string>());
      out.plugins.push_back(std::move(r));
    }
  if (p.contains("model") && p["model"].is_object()) {
    ModelRecord m{str(p["model"], "name"), str(p["model"], "folder"), {}};
    if (p["model"].contains("files") && p["model"]["files"].is_object())
      for (const auto& [file, sha] : p["model"]["files"].items()) m.files[file] = sha.is_string() ? sha.get<std::string>() : sha.dump();
    out.model = std::move(m);
  }
  if (p.contains("datasets") && p["datasets"].is_array())
    for (const json& d : p["datasets"]) out.datasets.push_back({str(d, "name"), str(d, "path"), str(d, "sha256")});
  if (p.contains("overrides") && p["overrides"].is_array())
    for (const json& o : p["overrides"])
      if (o.is_string()) out.overrides.push_back(o.get<std::string>());
  if (p.contains("sessions") && p["sessions"].is_array())
    for (const json& s : p["sessions"])
      out.sessions.push_back({str(s, "kind"), str(s, "started"), str(s, "host"), str(s, "shard"), str(s, "job"), str(s, "threads")});
  return out;
}

json to_json(const Provenance& p) {
  json plugins = json::array();
  for (const PluginRecord& pl : p.plugins)
    plugins.push_back({{"id", pl.id}, {"version", pl.version}, {"path", pl.path}, {"torch_version", pl.torch_version},
                       {"components", pl.components}});
  json datasets = json::array();
  for (const DatasetRecord& d : p.datasets) datasets.push_back({{"name", d.name}, {"path", d.path}, {"sha256", d.sha256}});
  json model = nullptr;
  if (p.model) {
    json files = json::object();
    for (const auto& [f, sha] : p.model->files) files[f] = sha;
    model = {{"name", p.model->name}, {"folder", p.model->folder}, {"files", std::move(files)}};
  }
  json j = {{"qrun_version", p.qrun_version}, {"git_commit", opt_json(p.git_commit)},
            {"torch_version", p.torch_version}, {"device", opt_json(p.device)},
            {"host", p.host},                   {"plugins", std::move(plugins)},
            {"model", std::move(model)},        {"datasets", std::move(datasets)},
            {"overrides", p.overrides},         {"started", p.started},
            {"finished", opt_json(p.finished)}};
  if (p.first_started) j["first_started"] = *p.first_started;
  if (!p.sessions.empty()) {
    json sessions = json::array();
    for (const SessionRecord& s : p.sessions) {
      json one = {{"kind", s.kind}, {"started", s.started}, {"host", s.host}, {"shard", s.shard}, {"job", s.job}};
      if (!s.threads.empty()) one["threads"] = s.threads;
      sessions.push_back(std::move(one));
    }
    j["sessions"] = std::move(sessions);
  }
  return j;
}

json to_json(const VariantRecord& v) {
  json transforms = json::array();
  for (const TransformRecord& t : v.transforms)
    transforms.push_back({{"use", t.use}, {"role", t.role}, {"params", t.params}, {"summary", opt_json(t.summary)},
                          {"details", t.details}});
  json metrics = json::object();
  for (const auto& [label, c] : v.metrics) {
    json cell = to_json(c.result);
    cell["use"] = c.use;
    cell["dataset"] = opt_json(c.dataset);
    cell["params"] = c.params;
    metrics[label] = std::move(cell);
  }
  auto dtype = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"name", v.name},
          {"baseline", v.baseline},
          {"transforms", std::move(transforms)},
          {"storage", v.storage ? to_json(*v.storage) : json(nullptr)},
          {"compute_dtype", dtype(v.compute_dtype)},
          {"storage_dtype", dtype(v.storage_dtype)},
          {"metrics", std::move(metrics)},
          {"complete", v.complete}};
}

}  // namespace

void declare_undeclared(Results& r) {
  for (const VariantRecord& v : r.variants)
    for (const auto& [label, cell] : v.metrics) {
      MetricSpec& spec = r.declarations[cell.use];
      for (const MetricValue& x : cell.result.values)
        if (!spec.find(x.name)) spec.values.push_back(declare_from_record(x));
    }
  if (!r.experiment.contains("metrics") || !r.experiment["metrics"].is_array()) return;
  for (const json& m : r.experiment["metrics"]) {  // older documents: lockstep from the experiment
    auto it = r.declarations.find(str(m, "use"));
    if (it != r.declarations.end() && m.contains("compares_to_baseline") && m["compares_to_baseline"].is_boolean())
      it->second.compares_to_baseline = it->second.compares_to_baseline || m["compares_to_baseline"].get<bool>();
  }
}

json to_json(const MetricValue& v) {
  json j;
  j["name"] = v.name;
  // JSON has no NaN/Inf: a non-finite value is written as null.
  j["value"] = std::isfinite(v.value) ? json(v.value) : json(nullptr);
  j["stderr"] = (v.stderr_ && std::isfinite(*v.stderr_)) ? json(*v.stderr_) : json(nullptr);
  j["n"] = v.n;
  j["unit"] = v.unit;
  j["better"] = std::string(to_string(v.better));
  j["group"] = v.group;
  return j;
}

Result<MetricValue> metric_value_from_json(const json& j) {
  auto v = parse_value(j);
  if (v || !j.is_object() || !j.contains("name") || !j["name"].is_string()) return v;
  return v.error().within(j["name"].get<std::string>(), ".");
}

json to_json(const MetricResult& r) {
  json values = json::array();
  for (const MetricValue& v : r.values) values.push_back(to_json(v));
  return {{"values", std::move(values)},
          {"details", r.details.is_null() ? json::object() : r.details},
          {"method", r.method},
          {"reductions", r.reductions}};
}

Result<MetricResult> metric_result_from_json(const json& j) {
  if (!j.is_object()) return bad("", "is not an object");
  MetricResult r;
  if (j.contains("values")) {
    if (!j["values"].is_array()) return bad("values", "is not an array");
    for (std::size_t i = 0; i < j["values"].size(); ++i) {
      auto v = parse_value(j["values"][i]);
      const std::string at = "values[" + std::to_string(i) + "]";
      if (!v) return v.error().within(at, ".");
      r.values.push_back(std::move(*v));
    }
  }
  if (j.contains("details") && !j["details"].is_null()) r.details = j["details"];
  if (j.contains("method") && !j["method"].is_string()) return bad("method", "is not a string");
  r.method = str(j, "method");
  if (j.contains("reductions") && j["reductions"].is_array())
    for (const json& s : j["reductions"])
      if (s.is_string()) r.reductions.push_back(s.get<std::string>());
  return r;
}

json to_json(const ModelStorage& s) {
  return {{"total_bytes", s.total_bytes},
          {"linear_bytes", s.linear_bytes},
          {"quantized_linear_bytes", s.quantized_linear_bytes},
          {"hf_footprint_bytes", s.hf_footprint_bytes},
          {"parameters", s.parameters}};
}

json variant_json(const VariantRecord& v) { return to_json(v); }

Result<VariantRecord> variant_from_json(const json& j, const std::string& source) {
  auto v = parse_variant(j);
  if (!v) return v.error().within(source, ".");
  return v;
}

json to_json(const Results& r) {
  json declarations = json::object();
  for (const auto& [use, spec] : r.declarations) declarations[use] = to_json(spec);
  json variants = json::array();
  for (const VariantRecord& v : r.variants) variants.push_back(to_json(v));
  json j = {{"schema_version", r.schema_version},
            {"experiment", r.experiment},
            {"experiment_file", r.experiment_file},
            {"provenance", to_json(r.provenance)},
            {"declarations", std::move(declarations)},
            {"variants", std::move(variants)},
            {"complete", r.complete}};
  if (r.error) j["error"] = *r.error;
  return j;
}

Result<Results> results_from_json(const json& j, const std::string& source) {
  const std::string fix_qrun = "pass a results.json written by qrun";
  if (!j.is_object()) return Error::of(ErrorCode::corrupt_input, source, "is not a JSON object", fix_qrun);
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return Error::of(ErrorCode::corrupt_input, source + " schema_version", "is missing or not an integer", fix_qrun);
  Results r;
  r.schema_version = j["schema_version"].get<int>();
  if (r.schema_version != kResultsSchemaVersion)
    return Error::of(ErrorCode::unsupported, source + " schema_version",
                     "is " + std::to_string(r.schema_version) + ", this qrun reads version " +
                         std::to_string(kResultsSchemaVersion),
                     "use the qrun that wrote it, or rerun the experiment with --fresh");
  if (!j.contains("variants") || !j["variants"].is_array()) return bad(source + " variants", "is missing or not an array");
  if (j.contains("experiment") && j["experiment"].is_object()) r.experiment = j["experiment"];
  r.experiment_file = str(j, "experiment_file");
  if (j.contains("provenance")) r.provenance = parse_provenance(j["provenance"]);
  r.complete = j.value("complete", false);
  r.error = opt_str(j, "error");
  if (j.contains("declarations") && j["declarations"].is_object())
    for (const auto& [use, sj] : j["declarations"].items()) {
      QRUN_ASSIGN_OR_RETURN(r.declarations[use], metric_spec_from_json(sj, source + " declarations." + use));
    }
  for (std::size_t i = 0; i < j["variants"].size(); ++i) {
    const std::string at = source + " variants[" + std::to_string(i) + "]";
    auto v = parse_variant(j["variants"][i]);
    if (!v) return v.error().within(at, ".");
    if (r.variant(v->name)) return bad(at + ".name", "repeats the name \"" + v->name + "\"");
    r.variants.push_back(std::move(*v));
  }
  if (std::count_if(r.variants.begin(), r.variants.end(), [](const VariantRecord& v) { return v.baseline; }) > 1)
    return bad(source + " variants", "marks more than one variant as baseline");
  declare_undeclared(r);
  return r;
}

}  // namespace qrun
