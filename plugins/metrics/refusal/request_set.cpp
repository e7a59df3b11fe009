// Loading the behavioural prompt files (request_set.hpp).
#include "request_set.hpp"

#include "csv.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace qrun::behaviour {

namespace {

Result<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Error::of(ErrorCode::not_found, file.string(), "cannot be opened",
                     "check the dataset path (datasets/README.md says how to fetch each file)");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<RequestSet> from_csv(const std::filesystem::path& file, const std::string& text) {
  auto rows = parse_csv(text, file.string());
  if (!rows) return rows.error();
  if (rows->size() < 2)
    return Error::of(ErrorCode::corrupt_input, file.string(), "has no data rows", "give a header row and requests");
  const auto& header = rows->front();
  const int goal = csv_column(header, "goal");
  const int prompt = csv_column(header, "prompt");
  const int label = csv_column(header, "label");
  const int type = csv_column(header, "type");
  const int id = csv_column(header, "id");
  RequestSet set;
  if (goal >= 0) set.format = "advbench";
  else if (prompt >= 0 && (label >= 0 || type >= 0)) set.format = "xstest";
  else
    return Error::of(ErrorCode::corrupt_input, file.string(),
                     "has a CSV header with neither goal (AdvBench) nor prompt with label or type (XSTest)",
                     "use AdvBench's harmful_behaviors.csv, XSTest's prompts CSV or a JSONL file");
  for (std::size_t r = 1; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    const std::string where = file.string() + " row " + std::to_string(r + 1);
    auto cell = [&](int c) { return c >= 0 && static_cast<std::size_t>(c) < row.size() ? row[c] : std::string(); };
    Request q;
    if (set.format == "advbench") {
      q = {"advbench-" + std::to_string(r), cell(goal), "advbench", true};
    } else {
      q.text = cell(prompt);
      q.category = type >= 0 ? cell(type) : "xstest";
      q.id = id >= 0 && !cell(id).empty() ? "xstest-" + cell(id) : "xstest-" + std::to_string(r);
      if (label >= 0) {
        const std::string l = cell(label);
        if (l != "safe" && l != "unsafe")
          return Error::of(ErrorCode::corrupt_input, where, "label \"" + l + "\" is neither safe nor unsafe",
                           "use XSTest's labels");
        q.harmful = l == "unsafe";
      } else {
        q.harmful = q.category.rfind("contrast_", 0) == 0;  // XSTest v2: contrast_* types are the unsafe ones
      }
    }
    if (q.text.empty())
      return Error::of(ErrorCode::corrupt_input, where, "has an empty prompt", "remove the row or fill it in");
    set.requests.push_back(std::move(q));
  }
  return set;
}

Result<RequestSet> from_jsonl(const std::filesystem::path& file, const std::string& text, bool default_harmful) {
  RequestSet set{"jsonl", {}};
  std::istringstream lines(text);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(n);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object())
      return Error::of(ErrorCode::corrupt_input, where, "is not a JSON object", "write one object per line");
    for (const auto& [key, value] : j.items())
      if (key != "id" && key != "prompt" && key != "category" && key != "harmful")
        return Error::of(ErrorCode::corrupt_input, where + " ." + key, "is not a known field",
                         "use id, prompt, category, harmful");
    Request q;
    if (!j.contains("prompt") || !j["prompt"].is_string() || j["prompt"].get<std::string>().empty())
      return Error::of(ErrorCode::corrupt_input, where + " .prompt", "is missing, empty or not a string",
                       "give the request text");
    q.text = j["prompt"].get<std::string>();
    q.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : "line-" + std::to_string(n);
    q.category = j.contains("category") && j["category"].is_string() ? j["category"].get<std::string>() : "all";
    q.harmful = default_harmful;
    if (j.contains("harmful")) {
      if (!j["harmful"].is_boolean())
        return Error::of(ErrorCode::corrupt_input, where + " .harmful", "is not true or false", "write true or false");
      q.harmful = j["harmful"].get<bool>();
    }
    set.requests.push_back(std::move(q));
  }
  return set;
}

}  // namespace

Result<RequestSet> load_requests(const std::filesystem::path& file, bool default_harmful) {
  auto text = read_file(file);
  if (!text) return text.error();
  const std::string ext = file.extension().string();
  Result<RequestSet> set = ext == ".csv"     ? from_csv(file, *text)
                           : ext == ".jsonl" ? from_jsonl(file, *text, default_harmful)
                                             : Result<RequestSet>(Error::of(ErrorCode::unsupported, file.string(),
                                                   "is neither .csv nor .jsonl", "give a CSV or JSONL prompt file"));
  if (!set) return set;
  if (set->requests.empty())
    return Error::of(ErrorCode::corrupt_input, file.string(), "holds no requests", "add requests");
  std::set<std::string> ids;
  for (const Request& q : set->requests)
    if (!ids.insert(q.id).second)
      return Error::of(ErrorCode::corrupt_input, file.string() + " id " + q.id, "occurs twice", "make ids unique");
  return set;
}

std::vector<Request> first_per_category(const std::vector<Request>& all, std::int64_t limit) {
  if (limit <= 0) return all;
  std::map<std::string, std::int64_t> taken;
  std::vector<Request> out;
  for (const Request& q : all)
    if (taken[q.category]++ < limit) out.push_back(q);
  return out;
}

}  // namespace qrun::behaviour
