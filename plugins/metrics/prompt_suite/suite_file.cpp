// Loading and validating the prompt-suite JSON file.
#include "suite_file.hpp"

#include <qrun/params.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace qrun::prompt_suite {

std::string_view to_string(Rule r) {
  switch (r) {
    case Rule::number: return "number";
    case Rule::contains_any: return "contains_any";
    case Rule::label: return "label";
    case Rule::regex: return "regex";
  }
  return "?";
}

namespace {

using nlohmann::json;

const std::vector<std::string> kRuleNames = {"number", "contains_any", "label", "regex"};

std::string join(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Reads a required string member.
Result<std::string> get_string(const json& obj, const std::string& key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string())
    return Error{where + "." + key, "is missing or not a string", "add \"" + key + "\": \"...\""};
  return it->get<std::string>();
}

Result<std::vector<std::string>> get_string_list(const json& obj, const std::string& key,
                                                 const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array() || it->empty())
    return Error{where + "." + key, "is missing or not a non-empty list", "give a list of strings"};
  std::vector<std::string> out;
  for (const auto& e : *it) {
    if (!e.is_string() || e.get<std::string>().empty())
      return Error{where + "." + key, "holds an entry that is not a non-empty string",
                   "give a list of non-empty strings"};
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<Reference> parse_reference(const json& j, const std::string& where) {
  if (!j.is_object()) return Error{where, "is not an object", "write {\"rule\": ..., ...}"};
  auto rule_name = get_string(j, "rule", where);
  if (!rule_name) return rule_name.error();
  Reference ref;
  const std::string& r = *rule_name;
  std::set<std::string> allowed = {"rule"};
  if (r == "number") {
    ref.rule = Rule::number;
    allowed.insert({"value", "tolerance"});
    auto v = j.find("value");
    if (v == j.end() || !v->is_number())
      return Error{where + ".value", "is missing or not a number", "give the expected number"};
    ref.value = v->get<double>();
    if (auto t = j.find("tolerance"); t != j.end()) {
      if (!t->is_number() || t->get<double>() < 0)
        return Error{where + ".tolerance", "is not a number >= 0", "give an absolute tolerance >= 0"};
      ref.tolerance = t->get<double>();
    }
  } else if (r == "contains_any") {
    ref.rule = Rule::contains_any;
    allowed.insert("any");
    auto any = get_string_list(j, "any", where);
    if (!any) return any.error();
    ref.any = std::move(*any);
  } else if (r == "label") {
    ref.rule = Rule::label;
    allowed.insert({"label", "labels"});
    auto label = get_string(j, "label", where);
    if (!label) return label.error();
    auto labels = get_string_list(j, "labels", where);
    if (!labels) return labels.error();
    ref.label = std::move(*label);
    ref.labels = std::move(*labels);
    if (std::find(ref.labels.begin(), ref.labels.end(), ref.label) == ref.labels.end())
      return Error{where + ".label", "\"" + ref.label + "\" is not among labels [" + join(ref.labels) + "]",
                   "add it to labels or correct the spelling"};
  } else if (r == "regex") {
    ref.rule = Rule::regex;
    allowed.insert({"pattern", "ignore_case"});
    auto pattern = get_string(j, "pattern", where);
    if (!pattern) return pattern.error();
    ref.pattern = std::move(*pattern);
    if (auto ic = j.find("ignore_case"); ic != j.end()) {
      if (!ic->is_boolean())
        return Error{where + ".ignore_case", "is not true or false", "write true or false"};
      ref.ignore_case = ic->get<bool>();
    }
    try {
      std::regex probe(ref.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{where + ".pattern", std::string("does not compile as an ECMAScript regex (") + e.what() + ")",
                   "correct the pattern"};
    }
  } else {
    auto hint = nearest_name(r, kRuleNames);
    return Error{where + ".rule", "unknown rule \"" + r + "\" (known: " + join(kRuleNames) + ")",
                 hint ? "did you mean \"" + *hint + "\"?" : "use one of the known rules"};
  }
  for (const auto& [key, _] : j.items()) {
    if (!allowed.count(key))
      return Error{where + "." + key, "is not a field of rule \"" + r + "\"", "remove it (see datasets/README.md)"};
  }
  return ref;
}

}  // namespace

Result<PromptSuite> load_prompt_suite(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{file, "cannot be opened", "check the dataset path in the experiment",
                 std::filesystem::exists(path) ? ErrorCode::io : ErrorCode::not_found};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  json doc = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error{file, "is not valid JSON", "check the file with a JSON validator", ErrorCode::corrupt_input};
  if (!doc.is_object()) return Error{file, "is not a JSON object", "use the format of datasets/README.md", ErrorCode::corrupt_input};

  auto schema = get_string(doc, "schema", file);
  if (!schema) return schema.error();
  if (*schema != "qrun.prompt_suite")
    return Error{file + " schema", "is \"" + *schema + "\", not \"qrun.prompt_suite\"",
                 "pass a prompt-suite file (datasets/prompt_suite_96.json)"};
  PromptSuite suite;
  auto version = doc.find("schema_version");
  if (version == doc.end() || !version->is_number_integer() || version->get<std::int64_t>() != kSchemaVersion)
    return Error{file + " schema_version", "is not " + std::to_string(kSchemaVersion),
                 "convert the file to schema version " + std::to_string(kSchemaVersion), ErrorCode::unsupported};
  suite.schema_version = kSchemaVersion;
  auto name = get_string(doc, "name", file);
  if (!name) return name.error();
  suite.name = *name;
  auto license = get_string(doc, "license", file);
  if (!license) return license.error();
  suite.license = *license;
  auto categories = get_string_list(doc, "categories", file);
  if (!categories) return categories.error();
  suite.categories = std::move(*categories);
  std::set<std::string> known(suite.categories.begin(), suite.categories.end());
  if (known.size() != suite.categories.size())
    return Error{file + " categories", "lists a category twice", "remove the duplicate"};

  auto prompts = doc.find("prompts");
  if (prompts == doc.end() || !prompts->is_array() || prompts->empty())
    return Error{file + " prompts", "is missing or empty", "add the prompts"};
  std::set<std::string> ids;
  for (std::size_t i = 0; i < prompts->size(); ++i) {
    const json& p = (*prompts)[i];
    std::string where = file + " prompts[" + std::to_string(i) + "]";
    if (!p.is_object()) return Error{where, "is not an object", "write {\"id\", \"category\", \"prompt\"}"};
    Prompt prompt;
    auto id = get_string(p, "id", where);
    if (!id) return id.error();
    prompt.id = *id;
    where += " (" + prompt.id + ")";
    if (!ids.insert(prompt.id).second) return Error{where + ".id", "is used twice", "give every prompt its own id"};
    auto category = get_string(p, "category", where);
    if (!category) return category.error();
    if (!known.count(*category)) {
      auto hint = nearest_name(*category, suite.categories);
      return Error{where + ".category", "\"" + *category + "\" is not listed in categories",
                   hint ? "did you mean \"" + *hint + "\"?" : "add it to categories"};
    }
    prompt.category = *category;
    auto text = get_string(p, "prompt", where);
    if (!text) return text.error();
    if (text->find_first_not_of(" \t\r\n") == std::string::npos)
      return Error{where + ".prompt", "is empty", "write the prompt text"};
    prompt.text = *text;
    if (auto r = p.find("reference"); r != p.end() && !r->is_null()) {
      auto ref = parse_reference(*r, where + ".reference");
      if (!ref) return ref.error();
      prompt.reference = std::move(*ref);
    }
    for (const auto& [key, _] : p.items()) {
      if (key != "id" && key != "category" && key != "prompt" && key != "reference")
        return Error{where + "." + key, "is not a prompt field", "remove it (fields: id, category, prompt, reference)"};
    }
    suite.prompts.push_back(std::move(prompt));
  }
  for (const auto& c : suite.categories) {
    bool used = std::any_of(suite.prompts.begin(), suite.prompts.end(),
                            [&](const Prompt& p) { return p.category == c; });
    if (!used) return Error{file + " categories", "\"" + c + "\" has no prompts", "add prompts or remove it"};
  }
  return suite;
}

Result<std::vector<Prompt>> select_prompts(const PromptSuite& suite, const std::vector<std::string>& categories,
                                           std::int64_t limit_per_category) {
  for (const auto& c : categories) {
    if (std::find(suite.categories.begin(), suite.categories.end(), c) == suite.categories.end()) {
      auto hint = nearest_name(c, suite.categories);
      return Error{"prompt_suite.categories", "\"" + c + "\" is not a category of " + suite.name +
                   " (known: " + join(suite.categories) + ")",
                   hint ? "did you mean \"" + *hint + "\"?" : "use one of the known categories"};
    }
  }
  std::map<std::string, std::int64_t> taken;
  std::vector<Prompt> out;
  for (const auto& p : suite.prompts) {
    bool wanted = categories.empty() ||
                  std::find(categories.begin(), categories.end(), p.category) != categories.end();
    if (!wanted) continue;
    if (limit_per_category > 0 && taken[p.category] >= limit_per_category) continue;
    ++taken[p.category];
    out.push_back(p);
  }
  return out;
}

}  // namespace qrun::prompt_suite
