// TOML experiment -> Experiment: every key checked against a declared set, every plugin resolved
// through the registry and its parameters validated against its schema, before any heavy work.
#include "experiment/experiment.hpp"

#include "experiment/toml_util.hpp"
#include "registry/registry.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace qrun {

using experiment_detail::to_param_value;
using experiment_detail::type_name;
using experiment_detail::where;

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// Checks one table of the experiment: walks keys, resolves positions, builds errors.
class Checker {
 public:
  Checker(std::string file, const Registry& registry) : file_(std::move(file)), registry_(registry) {}

  Error at(const toml::node& n, const std::string& path, std::string reason, std::string fix) const {
    return Error{where(n, file_) + " " + path, std::move(reason), std::move(fix)};
  }
  Error at_key(const toml::key& k, const std::string& path, std::string reason, std::string fix) const {
    return Error{where(k, file_) + " " + path, std::move(reason), std::move(fix)};
  }
  std::string pos(const toml::node& n) const { return where(n, file_); }

  // Rejects keys outside `allowed` with a nearest-name hint.
  Result<void> known_keys(const toml::table& t, const std::string& path, const std::vector<std::string>& allowed) const {
    for (const auto& [key, node] : t) {
      const std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      auto near = nearest_name(k, allowed);
      std::string fix = near ? "did you mean '" + *near + "'? " : "";
      fix += "keys allowed here: " + join(allowed);
      return at_key(key, path.empty() ? k : path + "." + k, "unknown key", fix);
    }
    return {};
  }

  // An optional string key; error when present with another type.
  Result<std::optional<std::string>> str(const toml::table& t, const std::string& key, const std::string& path,
                                        const std::string& example) const {
    const toml::node* n = t.get(key);
    if (!n) return std::optional<std::string>();
    if (const auto* s = n->as_string()) return std::optional<std::string>(s->get());
    return at(*n, path, "is a " + type_name(*n) + ", expected a string", "write " + key + " = " + example);
  }
  Result<std::string> required_str(const toml::table& t, const std::string& key, const std::string& path,
                                   const std::string& example) const {
    auto s = str(t, key, path + "." + key, example);
    if (!s) return s.error();
    if (!s->has_value()) return at(t, path, "has no '" + key + "'", "add " + key + " = " + example);
    if ((*s)->empty()) return at(*t.get(key), path + "." + key, "is empty", "write " + key + " = " + example);
    return **s;
  }

  // The plugin named by `use`, of the wanted kind; errors say what exists.
  Result<const ComponentInfo*> plugin(const toml::node& use_node, const std::string& path, const std::string& name,
                                      Kind kind) const {
    auto found = registry_.find(name, kind);
    if (found) return found;
    std::vector<std::string> same_kind;
    for (const ComponentInfo* c : registry_.components()) {
      if (c->kind == kind) same_kind.push_back(c->name);
    }
    const std::string listing = same_kind.empty() ? "no " + std::string(to_string(kind)) + " plugins are loaded (list a plugin folder in [experiment] plugin_path, or pass --plugin-path DIR / QRUN_PLUGIN_PATH)"
                                                  : std::string(to_string(kind)) + " plugins: " + join(same_kind);
    for (const ComponentInfo* c : registry_.components()) {
      if (c->name == name && c->kind != kind) {
        return at(use_node, path, "'" + name + "' is a " + std::string(to_string(c->kind)) + " plugin, not a " +
                                      std::string(to_string(kind)),
                  "use a " + std::string(to_string(kind)) + " here; " + listing);
      }
    }
    auto near = nearest_name(name, same_kind);
    const std::string elsewhere = same_kind.empty() ? "" : "; a plugin in another folder: list the folder in [experiment] plugin_path or pass --plugin-path DIR";
    Error unknown = at(use_node, path, "no " + std::string(to_string(kind)) + " plugin named '" + name + "'",
                       (near ? "did you mean '" + *near + "'? " : std::string()) + listing + elsewhere);
    unknown.code = ErrorCode::not_found;
    return unknown;
  }

  // The entry's keys other than `reserved`, validated against the component's schema.
  Result<ParamMap> params(const toml::table& t, const std::string& path, const ComponentInfo& c,
                          const std::vector<std::string>& reserved) const {
    ParamMap given;
    std::map<std::string, std::pair<const toml::key*, const toml::node*>> nodes;
    for (const auto& [key, node] : t) {
      const std::string k(key.str());
      if (std::find(reserved.begin(), reserved.end(), k) != reserved.end()) continue;
      auto v = to_param_value(node, where(node, file_) + " " + path + "." + k);
      if (!v) return v.error();
      given.emplace(k, std::move(*v));
      nodes.emplace(k, std::make_pair(&key, &node));
    }
    auto validated = validate_params(c.schema, given);
    if (validated) return validated;
    Error e = validated.error();
    // The core names the parameter; point at its key when unknown, at its value otherwise.
    std::string name = e.thing;
    auto it = nodes.find(name);
    if (it == nodes.end()) {
      for (const auto& [k, kn] : nodes) {
        if (name.find(k) != std::string::npos) { it = nodes.find(k); name = k; break; }
      }
    }
    if (it == nodes.end()) return Error{pos(t) + " " + path + (e.thing.empty() ? "" : "." + e.thing), e.reason, e.fix, e.code};
    const bool unknown = c.schema.find(name) == nullptr;
    const std::string w = unknown ? where(*it->second.first, file_) : where(*it->second.second, file_);
    std::string fix = e.fix;
    if (unknown) {
      std::vector<std::string> names;
      for (const FieldSpec& f : c.schema.fields) names.push_back(f.name);
      for (const std::string& r : reserved) names.push_back(r);
      if (fix.empty()) fix = "parameters of '" + c.name + "': " + join(names);
    }
    return Error{w + " " + path + "." + name, e.reason, fix, e.code};
  }

  const std::string& file() const { return file_; }
  const Registry& registry() const { return registry_; }

 private:
  std::string file_;
  const Registry& registry_;
};

// An array of tables ([[x]] or x = [{...}, ...]); absent -> empty.
Result<std::vector<const toml::table*>> tables_of(const Checker& ck, const toml::node* n, const std::string& path,
                                                  const std::string& example) {
  std::vector<const toml::table*> out;
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) return ck.at(*n, path, "is a " + type_name(*n) + ", expected an array of tables", "write " + example);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    if (!t) {
      return ck.at((*arr)[i], path + "[" + std::to_string(i) + "]", "is a " + type_name((*arr)[i]) + ", expected a table",
                   "write " + example);
    }
    out.push_back(t);
  }
  return out;
}

bool is_folder_safe(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  }) && s != "." && s != "..";
}

// [experiment] plugin_path = ["dir", ...]: folders of plugin libraries, relative to the experiment
// file's folder (absolute paths as written); each must be an existing folder.
Result<std::vector<std::filesystem::path>> plugin_paths_of(const Checker& ck, const toml::table& t,
                                                           const std::filesystem::path& file) {
  std::vector<std::filesystem::path> dirs;
  const toml::node* n = t.get("plugin_path");
  if (!n) return dirs;
  const std::string write = "write plugin_path = [\"../build/my_plugins\"] (folders relative to the experiment file)";
  auto is_a = [](const toml::node& v) {
    const std::string t = type_name(v);
    return std::string(std::string("aeiou").find(t[0]) == std::string::npos ? "is a " : "is an ") + t;
  };
  const toml::array* arr = n->as_array();
  if (!arr) return ck.at(*n, "experiment.plugin_path", is_a(*n) + ", expected an array of folders", write);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = (*arr)[i];
    const std::string path = "experiment.plugin_path[" + std::to_string(i) + "]";
    const auto* s = item.as_string();
    if (!s) return ck.at(item, path, is_a(item) + ", expected a string", write);
    if (s->get().empty()) return ck.at(item, path, "is empty", write);
    const std::filesystem::path dir = (file.parent_path() / s->get()).lexically_normal();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      Error e = ck.at(item, path, "'" + dir.string() + "' is not a folder",
                      "name a folder holding plugin libraries (libqrun_<id>.so), relative to the experiment file");
      e.code = std::filesystem::exists(dir, ec) ? ErrorCode::invalid_argument : ErrorCode::not_found;
      return e;
    }
    dirs.push_back(dir);
  }
  return dirs;
}

Result<void> parse_experiment_table(const Checker& ck, const toml::table& root, const LoadOptions& options,
                                    Experiment& e) {
  e.name = e.file.stem().string();
  const toml::node* node = root.get("experiment");
  const toml::table empty;
  const toml::table* t = &empty;
  if (node) {
    t = node->as_table();
    if (!t) return ck.at(*node, "experiment", "is a " + type_name(*node) + ", expected a table", "write [experiment] with name = \"...\"");
  }
  QRUN_TRY(ck.known_keys(*t, "experiment", {"name", "seed", "output_dir", "plugin_path"}));
  auto plugin_paths = plugin_paths_of(ck, *t, e.file);
  if (!plugin_paths) return plugin_paths.error();
  e.plugin_paths = std::move(*plugin_paths);
  auto name = ck.str(*t, "name", "experiment.name", "\"nf4_study\"");
  if (!name) return name.error();
  if (name->has_value()) e.name = **name;
  if (!is_folder_safe(e.name)) {
    const toml::node* n = t->get("name");
    return ck.at(n ? *n : static_cast<const toml::node&>(root), "experiment.name",
                 "'" + e.name + "' is not usable in a folder name", "use letters, digits, '_', '-' and '.' only");
  }
  if (const toml::node* s = t->get("seed")) {
    const auto* i = s->as_integer();
    if (!i) return ck.at(*s, "experiment.seed", "is a " + type_name(*s) + ", expected an integer", "write seed = 0");
    if (i->get() < 0) return ck.at(*s, "experiment.seed", std::to_string(i->get()) + " is below 0", "use a seed >= 0");
    e.seed = static_cast<std::uint64_t>(i->get());
  }
  auto out = ck.str(*t, "output_dir", "experiment.output_dir", "\"reports/my_run\"");
  if (!out) return out.error();
  if (out->has_value() && (*out)->empty()) {
    return ck.at(*t->get("output_dir"), "experiment.output_dir", "is empty", "remove it (default: reports/<name>-<UTC time>) or name a folder");
  }
  e.output_dir = out->has_value() ? std::filesystem::path(**out) : default_output_dir(e.name, options.started);
  return {};
}

Result<void> parse_model(const Checker& ck, const toml::table& root, Experiment& e) {
  const toml::node* node = root.get("model");
  if (!node) {
    return Error{ck.file() + ":1:1 model", "the experiment has no [model] table",
                 "add [model] with use = \"hf\", path = \"<model folder or HF id>\" (or --set model.path=...)"};
  }
  const toml::table* t = node->as_table();
  if (!t) return ck.at(*node, "model", "is a " + type_name(*node) + ", expected a table", "write [model] with use = \"hf\" and path = \"...\"");
  e.model.where = ck.pos(*t);
  auto use = ck.str(*t, "use", "model.use", "\"hf\"");
  if (!use) return use.error();
  e.model.use = use->value_or("hf");
  const toml::node* use_node = t->get("use");
  auto c = ck.plugin(use_node ? *use_node : *node, "model.use", e.model.use, Kind::backend);
  if (!c) return c.error();
  auto p = ck.params(*t, "model", **c, {"use"});
  if (!p) return p.error();
  e.model.params = std::move(*p);
  return {};
}

Result<void> parse_datasets(const Checker& ck, const toml::table& root, Experiment& e) {
  auto tables = tables_of(ck, root.get("datasets"), "datasets", "[[datasets]] with name and path");
  if (!tables) return tables.error();
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const toml::table& t = *(*tables)[i];
    const std::string path = "datasets[" + std::to_string(i) + "]";
    QRUN_TRY(ck.known_keys(t, path, {"name", "path"}));
    DatasetEntry d;
    auto name = ck.required_str(t, "name", path, "\"wikitext2\"");
    if (!name) return name.error();
    d.name = *name;
    if (e.find_dataset(d.name)) {
      return ck.at(*t.get("name"), path + ".name", "'" + d.name + "' is already the name of another dataset",
                   "give each [[datasets]] entry its own name");
    }
    auto file = ck.required_str(t, "path", path, "\"datasets/wikitext-2-raw/wiki.test.raw\"");
    if (!file) return file.error();
    d.path = *file;
    d.where = ck.pos(*t.get("path"));  // run-time errors about the file point at its path
    e.datasets.push_back(std::move(d));
  }
  return {};
}

Result<void> parse_transforms(const Checker& ck, const toml::table& vt, const std::string& vpath, VariantEntry& v) {
  auto tables = tables_of(ck, vt.get("transforms"), vpath + ".transforms",
                          "transforms = [{use = \"nf4\", blocksize = 64}]");
  if (!tables) return tables.error();
  const TransformEntry* quantizer = nullptr;
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const toml::table& t = *(*tables)[i];
    const std::string path = vpath + ".transforms[" + std::to_string(i) + "]";
    auto use = ck.required_str(t, "use", path, "\"nf4\"");
    if (!use) return use.error();
    auto c = ck.plugin(*t.get("use"), path + ".use", *use, Kind::transform);
    if (!c) return c.error();
    TransformEntry te;
    te.use = *use;
    te.role = (*c)->role;
    te.where = ck.pos(t);
    if (quantizer) {
      const std::string reason = te.role == Role::quantizer
                                     ? "a second quantizer ('" + te.use + "' after '" + quantizer->use + "')"
                                     : "defense '" + te.use + "' comes after quantizer '" + quantizer->use + "'";
      return ck.at(t, path, reason,
                   "list defenses first and at most one quantizer last, e.g. transforms = [{use = \"<defense>\"}, "
                   "{use = \"" + quantizer->use + "\"}]");
    }
    auto p = ck.params(t, path, **c, {"use"});
    if (!p) return p.error();
    te.params = std::move(*p);
    v.transforms.push_back(std::move(te));
    if (v.transforms.back().role == Role::quantizer) quantizer = &v.transforms.back();
  }
  return {};
}

Result<void> parse_variants(const Checker& ck, const toml::table& root, Experiment& e) {
  const toml::node* node = root.get("variants");
  auto tables = tables_of(ck, node, "variants", "[[variants]] with name and transforms");
  if (!tables) return tables.error();
  if (tables->empty()) {
    return Error{ck.file() + ":1:1 variants", "the experiment has no [[variants]]",
                 "add at least a baseline: [[variants]] name = \"fp16\" (no transforms)"};
  }
  const toml::table* marked = nullptr;
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const toml::table& t = *(*tables)[i];
    const std::string path = "variants[" + std::to_string(i) + "]";
    QRUN_TRY(ck.known_keys(t, path, {"name", "baseline", "transforms"}));
    VariantEntry v;
    v.where = ck.pos(t);
    auto name = ck.required_str(t, "name", path, "\"nf4\"");
    if (!name) return name.error();
    v.name = *name;
    for (const VariantEntry& other : e.variants) {
      if (other.name == v.name) {
        return ck.at(*t.get("name"), path + ".name", "'" + v.name + "' is already the name of another variant",
                     "give each [[variants]] entry its own name");
      }
    }
    if (const toml::node* b = t.get("baseline")) {
      const auto* flag = b->as_boolean();
      if (!flag) return ck.at(*b, path + ".baseline", "is a " + type_name(*b) + ", expected true or false", "write baseline = true");
      if (flag->get()) {
        if (marked) {
          return ck.at(*b, path + ".baseline",
                       "a second baseline (variant '" + e.variants[e.baseline].name + "' at " + ck.pos(*marked) +
                           " is already the baseline)",
                       "mark exactly one variant with baseline = true");
        }
        marked = &t;
        v.baseline = true;
        e.baseline = i;
      }
    }
    QRUN_TRY(parse_transforms(ck, t, path, v));
    e.variants.push_back(std::move(v));
  }
  if (!marked) {
    std::vector<std::size_t> plain;
    for (std::size_t i = 0; i < e.variants.size(); ++i) {
      if (e.variants[i].transforms.empty()) plain.push_back(i);
    }
    if (plain.size() != 1) {
      return ck.at(*node, "variants",
                   plain.empty() ? "no baseline: no variant is marked baseline = true and every variant has transforms"
                                 : "no baseline marked and " + std::to_string(plain.size()) +
                                       " variants have no transforms, so the baseline is ambiguous",
                   "add baseline = true to the variant the others are compared with");
    }
    e.baseline = plain.front();
    e.variants[e.baseline].baseline = true;
  }
  return {};
}

Result<void> parse_metrics(const Checker& ck, const toml::table& root, Experiment& e) {
  auto tables = tables_of(ck, root.get("metrics"), "metrics", "[[metrics]] with use = \"perplexity\"");
  if (!tables) return tables.error();
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const toml::table& t = *(*tables)[i];
    const std::string path = "metrics[" + std::to_string(i) + "]";
    auto use = ck.required_str(t, "use", path, "\"perplexity\"");
    if (!use) return use.error();
    auto c = ck.plugin(*t.get("use"), path + ".use", *use, Kind::metric);
    if (!c) return c.error();
    MetricEntry m;
    m.use = *use;
    m.spec = (*c)->metric;
    m.where = ck.pos(t);
    auto label = ck.str(t, "name", path + ".name", "\"ppl_wikitext\"");
    if (!label) return label.error();
    m.label = label->value_or(m.use);
    if (m.label.empty()) return ck.at(*t.get("name"), path + ".name", "is empty", "remove it (default: the plugin name) or write a label");
    for (const MetricEntry& other : e.metrics) {
      if (other.label == m.label) {
        const toml::node* n = t.get("name");
        return ck.at(n ? *n : *t.get("use"), path + (n ? ".name" : ".use"),
                     "the label '" + m.label + "' is already used by another metric entry",
                     "give this entry its own name = \"...\" (labels key the results)");
      }
    }
    auto ds = ck.str(t, "dataset", path + ".dataset", "\"wikitext2\"");
    if (!ds) return ds.error();
    if (ds->has_value()) {
      if (!e.find_dataset(**ds)) {
        std::vector<std::string> names;
        for (const auto& d : e.datasets) names.push_back(d.name);
        auto near = nearest_name(**ds, names);
        return ck.at(*t.get("dataset"), path + ".dataset", "no [[datasets]] entry is named '" + **ds + "'",
                     (near ? "did you mean '" + *near + "'? " : std::string()) +
                         (names.empty() ? "declare it: [[datasets]] name = \"" + **ds + "\", path = \"...\""
                                        : "datasets: " + join(names)));
      }
      m.dataset = **ds;
    } else if (m.spec.needs_dataset) {
      return ck.at(t, path, "metric '" + m.use + "' needs a dataset and this entry names none",
                   "add dataset = \"<name of a [[datasets]] entry>\"");
    }
    auto p = ck.params(t, path, **c, {"use", "name", "dataset"});
    if (!p) return p.error();
    m.params = std::move(*p);
    e.metrics.push_back(std::move(m));
  }
  return {};
}

Result<void> parse_report(const Checker& ck, const toml::table& root, Experiment& e) {
  e.report.title = e.name;
  const toml::node* node = root.get("report");
  if (!node) return {};
  const toml::table* t = node->as_table();
  if (!t) return ck.at(*node, "report", "is a " + type_name(*node) + ", expected a table", "write [report] with title = \"...\"");
  auto fields = report_fields(ck.registry());
  if (!fields) return fields.error();
  std::vector<std::string> names;
  for (const ReportField& f : *fields) names.push_back(f.name);
  QRUN_TRY(ck.known_keys(*t, "report", names));
  for (const ReportField& f : *fields) {
    const toml::node* n = t->get(f.name);
    if (!n) continue;
    const std::string path = "report." + f.name;
    if (f.type == ParamType::string) {
      const auto* s = n->as_string();
      if (!s) return ck.at(*n, path, "is a " + type_name(*n) + ", expected a string", "write " + f.name + " = \"...\"");
      e.report.title = s->get();
      continue;
    }
    double v = 0;
    if (const auto* i = n->as_integer()) v = static_cast<double>(i->get());
    else if (const auto* d = n->as_floating_point()) v = d->get();
    else return ck.at(*n, path, "is a " + type_name(*n) + ", expected a number", "write " + f.name + " = 1.0 (" + f.doc + ")");
    if (!std::isfinite(v) || (f.min && v < *f.min)) {
      std::ostringstream lo;
      lo << (f.min ? *f.min : 0.0);
      std::ostringstream shown;
      shown << v;
      return ck.at(*n, path, shown.str() + " is " + (std::isfinite(v) ? "below " + lo.str() : "not finite"),
                   "use a value >= " + lo.str() + " (" + f.doc + ")");
    }
    e.report.criteria[f.name] = v;
  }
  return {};
}

}  // namespace

const DatasetEntry* Experiment::find_dataset(const std::string& n) const {
  for (const auto& d : datasets) {
    if (d.name == n) return &d;
  }
  return nullptr;
}

namespace {

// The TOML tree of an experiment with the overrides applied.
Result<toml::table> parse_root(const std::string& toml_text, const std::string& file_name, const LoadOptions& options) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file_name);
  } catch (const toml::parse_error& err) {
    const auto& b = err.source().begin;
    return Error{file_name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column),
                 "TOML syntax error: " + experiment_detail::one_line(err.description()),
                 "correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)", ErrorCode::corrupt_input};
  }
  QRUN_TRY(experiment_detail::apply_overrides(root, options.overrides));
  return root;
}

Result<std::string> read_experiment_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))  // an ifstream opens a folder and reads nothing
    return Error{file.string(), "is a folder, not an experiment file", "give the .toml file (experiments/*.toml)",
                 ErrorCode::invalid_argument};
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error{file.string(), "cannot open the experiment file", "check the path (experiments live in experiments/*.toml)",
                 std::filesystem::exists(file) ? ErrorCode::io : ErrorCode::not_found};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

namespace {

Result<Experiment> parse_experiment_text(const std::string& toml_text, const std::filesystem::path& file,
                                         const Registry& registry, const LoadOptions& options) {
  const std::string file_name = file.string();
  auto parsed = parse_root(toml_text, file_name, options);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;

  const Checker ck(file_name, registry);
  QRUN_TRY(ck.known_keys(root, "", {"experiment", "model", "datasets", "variants", "metrics", "report"}));
  Experiment e;
  e.file = file;
  QRUN_TRY(parse_experiment_table(ck, root, options, e));
  QRUN_TRY(parse_model(ck, root, e));
  QRUN_TRY(parse_datasets(ck, root, e));
  QRUN_TRY(parse_variants(ck, root, e));
  QRUN_TRY(parse_metrics(ck, root, e));
  QRUN_TRY(parse_report(ck, root, e));
  return e;
}

}  // namespace

// Errors quote names and values from the file: each field is made one line of bounded length.
Result<Experiment> parse_experiment(const std::string& toml_text, const std::filesystem::path& file,
                                    const Registry& registry, const LoadOptions& options) {
  auto e = parse_experiment_text(toml_text, file, registry, options);
  if (!e) return experiment_detail::one_line(e.error());
  return e;
}

Result<Experiment> load_experiment(const std::filesystem::path& file, const Registry& registry,
                                   const LoadOptions& options) {
  auto text = read_experiment_file(file);
  if (!text) return text.error();
  return parse_experiment(*text, file, registry, options);
}

Result<std::vector<std::filesystem::path>> experiment_plugin_paths(const std::filesystem::path& file,
                                                                   const LoadOptions& options) {
  auto text = read_experiment_file(file);
  if (!text) return text.error();
  auto root = parse_root(*text, file.string(), options);
  if (!root) return experiment_detail::one_line(root.error());
  const toml::table* t = root->get_as<toml::table>("experiment");
  if (!t) return std::vector<std::filesystem::path>();  // absent, or not a table: load_experiment says so
  const Registry none;
  auto paths = plugin_paths_of(Checker(file.string(), none), *t, file);
  if (!paths) return experiment_detail::one_line(paths.error());
  return paths;
}

}  // namespace qrun
