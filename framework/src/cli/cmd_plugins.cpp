// `qrun plugins [--json] [--markdown] [NAME]`: what the registry loaded, from each component's
// own schema: name, kind, role, plugin library and version, description and parameters.
#include "cli/command.hpp"
#include "common/version.hpp"
#include "registry/registry.hpp"

#include <qrun/linear_kind.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

constexpr const char* kUsage = "qrun plugins [--json | --markdown] [NAME]";

nlohmann::json to_json(const ParamValue& v) {
  if (auto* b = std::get_if<bool>(&v)) return *b;
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return std::get<std::vector<std::string>>(v);
}

std::string bound(const FieldSpec& f, double b) {
  return f.type == ParamType::integer ? fmt::format("{}", static_cast<std::int64_t>(b)) : fmt::format("{}", b);
}

// "[0, 1]", ">= 0", "<= 8", "one of \"a\", \"b\"", or "" when anything of the type goes.
std::string allowed(const FieldSpec& f) {
  if (!f.choices.empty()) {
    std::string s = "one of ";
    for (std::size_t i = 0; i < f.choices.size(); ++i) s += (i ? ", " : "") + to_string(ParamValue(f.choices[i]));
    return s;
  }
  if (f.min && f.max) return "[" + bound(f, *f.min) + ", " + bound(f, *f.max) + "]";
  if (f.min) return ">= " + bound(f, *f.min);
  if (f.max) return "<= " + bound(f, *f.max);
  return "";
}

std::string kind_label(const ComponentInfo& c) {
  std::string s(to_string(c.kind));
  if (c.kind == Kind::transform) s += ", " + std::string(to_string(c.role));
  if (c.kind == Kind::metric) {
    s += c.metric.compares_to_baseline ? ", compares to baseline" : ", per model";
    if (c.metric.needs_dataset) s += ", needs a dataset";
  }
  return s;
}

nlohmann::json component_json(const Registry& registry, const ComponentInfo& c) {
  const LoadedPlugin* p = registry.plugin_of(c.name);
  nlohmann::json j = {{"name", c.name}, {"kind", to_string(c.kind)}, {"description", c.description}};
  if (c.kind == Kind::transform) j["role"] = to_string(c.role);
  if (c.kind == Kind::metric) {
    j["compares_to_baseline"] = c.metric.compares_to_baseline;
    j["needs_dataset"] = c.metric.needs_dataset;
  }
  if (p) j["plugin"] = {{"id", p->id}, {"version", p->version}, {"path", p->path.string()}};
  nlohmann::json params = nlohmann::json::array();
  for (const FieldSpec& f : c.schema.fields) {
    nlohmann::json pj = {{"name", f.name}, {"type", to_string(f.type)}, {"default", to_json(f.default_value)},
                         {"unit", f.unit}, {"doc", f.doc}};
    pj["min"] = f.min ? nlohmann::json(*f.min) : nlohmann::json(nullptr);
    pj["max"] = f.max ? nlohmann::json(*f.max) : nlohmann::json(nullptr);
    pj["choices"] = f.choices;
    params.push_back(std::move(pj));
  }
  j["parameters"] = std::move(params);
  return j;
}

std::string render_json(const Registry& registry, const std::vector<const ComponentInfo*>& shown) {
  nlohmann::json plugins = nlohmann::json::array();
  for (const LoadedPlugin& p : registry.plugins()) {
    plugins.push_back({{"id", p.id}, {"version", p.version}, {"path", p.path.string()},
                       {"torch_version", p.torch_version}, {"components", p.components},
                       {"linear_kinds", p.linear_kinds}});
  }
  nlohmann::json components = nlohmann::json::array();
  for (const ComponentInfo* c : shown) components.push_back(component_json(registry, *c));
  nlohmann::json refused = nlohmann::json::array();
  for (const Error& e : registry.refusals()) refused.push_back({{"thing", e.thing}, {"reason", e.reason}, {"fix", e.fix}});
  nlohmann::json kinds = nlohmann::json::array();
  for (const LoadedPlugin& p : registry.plugins())
    for (const std::string& k : p.linear_kinds) {
      const LinearKindInfo* info = find_linear_kind(k);
      kinds.push_back({{"name", k}, {"plugin", p.id}, {"description", info ? info->description : ""},
                       {"recognizes_foreign_checkpoints", info && info->recognizes}});
    }
  nlohmann::json out = {{"qrun_version", qrun_version()}, {"plugin_api", QRUN_PLUGIN_API_VERSION},
                        {"plugins", plugins}, {"components", components}, {"linear_kinds", kinds},
                        {"refused", refused}};
  return out.dump(2) + "\n";
}

std::string render_text(const Registry& registry, const std::vector<const ComponentInfo*>& shown) {
  std::ostringstream out;
  if (shown.empty()) out << "No plugins loaded (qrun --plugin-path DIR adds a folder).\n";
  for (const ComponentInfo* c : shown) {
    const LoadedPlugin* p = registry.plugin_of(c->name);
    out << c->name << " (" << kind_label(*c) << ")";
    if (p) out << "  plugin " << p->id << " " << p->version << ", " << p->path.string();
    out << "\n  " << c->description << "\n";
    if (c->schema.fields.empty()) out << "  no parameters\n";
    for (const FieldSpec& f : c->schema.fields) {
      out << "  " << f.name << ": " << to_string(f.type) << " = " << to_string(f.default_value);
      if (auto a = allowed(f); !a.empty()) out << ", " << a;
      if (!f.unit.empty()) out << " (" << f.unit << ")";
      if (!f.doc.empty()) out << "  " << f.doc;
      out << "\n";
    }
    out << "\n";
  }
  bool any_kind = false;
  for (const LoadedPlugin& p : registry.plugins())
    for (const std::string& k : p.linear_kinds) {
      if (!any_kind) out << "Linear kinds (quantized layers in checkpoints):\n";
      any_kind = true;
      const LinearKindInfo* info = find_linear_kind(k);
      out << "  " << k << "  plugin " << p.id << ": " << (info ? info->description : "") << "\n";
    }
  return out.str();
}

std::string cell(std::string s) {  // a Markdown table cell: no pipes, no line breaks
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out;
}

// Machine-independent (no paths), so the generated file can be committed and diffed.
std::string render_markdown(const Registry& registry, const std::vector<const ComponentInfo*>& shown) {
  std::ostringstream out;
  out << "# qrun plugins\n\nGenerated by `qrun plugins --markdown` from each plugin's parameter schema "
         "(qrun " << qrun_version() << ", plugin API " << QRUN_PLUGIN_API_VERSION
      << "). Do not edit by hand: change the schema and regenerate.\n";
  const std::pair<Kind, const char*> sections[] = {
      {Kind::backend, "Backends"}, {Kind::transform, "Transforms"}, {Kind::metric, "Metrics"}};
  for (const auto& [kind, title] : sections) {
    bool any = false;
    for (const ComponentInfo* c : shown) {
      if (c->kind != kind) continue;
      if (!any) out << "\n## " << title << "\n";
      any = true;
      const LoadedPlugin* p = registry.plugin_of(c->name);
      out << "\n### `" << c->name << "`\n\n" << c->description << "\n\n";
      out << "Kind: " << kind_label(*c);
      if (p) out << ". Plugin: `" << p->id << "` " << p->version;
      out << ".\n\n";
      if (c->schema.fields.empty()) {
        out << "No parameters.\n";
        continue;
      }
      out << "| Parameter | Type | Default | Allowed | Unit | Description |\n|---|---|---|---|---|---|\n";
      for (const FieldSpec& f : c->schema.fields) {
        out << "| `" << f.name << "` | " << to_string(f.type) << " | `" << cell(to_string(f.default_value)) << "` | "
            << cell(allowed(f)) << " | " << cell(f.unit) << " | " << cell(f.doc) << " |\n";
      }
    }
  }
  return out.str();
}

int run_plugins(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc("Options");
  desc.add_options()("json", "print JSON (components, libraries, refusals)")(
      "markdown", "print Markdown documentation generated from the schemas")("help,h", "show this help");
  po::options_description hidden;
  hidden.add_options()("name", po::value<std::string>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description positional;
  positional.add("name", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return report_error(Error{"qrun plugins", e.what(), std::string("usage: ") + kUsage});
  }
  if (vm.count("help")) {
    std::cout << "List the loaded plugins and their parameters.\nUsage: " << kUsage << "\n\n" << desc;
    return 0;
  }
  if (vm.count("json") && vm.count("markdown")) {
    return report_error(Error{"qrun plugins", "--json and --markdown exclude each other", "pick one"});
  }

  const Registry registry = load_registry(global);
  std::vector<const ComponentInfo*> shown = registry.components();
  if (vm.count("name")) {
    const std::string name = vm["name"].as<std::string>();
    std::vector<const ComponentInfo*> match;
    std::vector<std::string> names;
    for (const ComponentInfo* c : shown) {
      names.push_back(c->name);
      if (c->name == name) match.push_back(c);
    }
    if (match.empty()) {
      std::string fix;
      if (auto near = nearest_name(name, names)) fix = "did you mean '" + *near + "'? ";
      fix += names.empty() ? "no component is loaded; pass --plugin-path DIR" : "run `qrun plugins` to see them all";
      return report_error(Error{name, "no loaded component has this name", fix, ErrorCode::not_found});
    }
    shown = match;
  }
  if (vm.count("json")) std::cout << render_json(registry, shown);
  else if (vm.count("markdown")) std::cout << render_markdown(registry, shown);
  else std::cout << render_text(registry, shown);
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_plugins, {"plugins", "List the loaded plugins, their parameters and any refused library",
                               kUsage, run_plugins});

}  // namespace qrun::cli
