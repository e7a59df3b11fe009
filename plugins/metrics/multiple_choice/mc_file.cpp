// Loading multiple-choice files (mc_file.hpp).
#include "mc_file.hpp"

#include "../refusal/csv.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace qrun::mc {

namespace {

using nlohmann::json;

// j[key] for a const object without undefined behaviour: null when j is no object or lacks key.
const json& field(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::string text_of(const json& j, const char* key) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

std::string mmlu_context(const std::string& subject, const std::string& question, const std::vector<std::string>& c) {
  return "The following are multiple choice questions (with answers) about " + replace_all(subject, "_", " ") + ".\n\n" +
         strip(question) + "\nA. " + c[0] + "\nB. " + c[1] + "\nC. " + c[2] + "\nD. " + c[3] + "\nAnswer:";
}

Result<std::vector<std::string>> strings(const json& j, const std::string& where) {
  if (!j.is_array() || j.empty())
    return Error::of(ErrorCode::corrupt_input, where, "is not a non-empty list", "give the options as a list of strings");
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return Error::of(ErrorCode::corrupt_input, where, "holds a non-string", "give strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<std::int64_t> index_of_label(const std::vector<std::string>& labels, const std::string& key, const std::string& where) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == key) return static_cast<std::int64_t>(i);
  return Error::of(ErrorCode::corrupt_input, where, "answerKey \"" + key + "\" is none of the choice labels", "fix the row");
}

Result<Item> arc_item(const json& j, const std::string& where) {
  Item it;
  it.id = text_of(j, "id");
  it.subject = "arc";
  std::vector<std::string> labels;
  const json& q = field(j, "question");
  if (q.is_object()) {  // original ARC-V1 JSONL
    it.context = "Question: " + text_of(q, "stem") + "\nAnswer:";
    const json& cs = field(q, "choices");
    if (!cs.is_array() || cs.empty())
      return Error::of(ErrorCode::corrupt_input, where + " .question.choices", "is not a non-empty list", "fix the row");
    for (const auto& c : cs) {
      it.choices.push_back(text_of(c, "text"));
      labels.push_back(text_of(c, "label"));
    }
  } else {  // Hugging Face allenai/ai2_arc rows
    it.context = "Question: " + text_of(j, "question") + "\nAnswer:";
    auto t = strings(field(field(j, "choices"), "text"), where + " .choices.text");
    if (!t) return t.error();
    auto l = strings(field(field(j, "choices"), "label"), where + " .choices.label");
    if (!l) return l.error();
    it.choices = *t;
    labels = *l;
  }
  auto g = index_of_label(labels, text_of(j, "answerKey"), where);
  if (!g) return g.error();
  it.gold = *g;
  return it;
}

Result<Item> mmlu_item(const json& j, const std::string& where) {
  Item it;
  it.subject = text_of(j, "subject").empty() ? "mmlu" : text_of(j, "subject");
  auto c = strings(field(j, "choices"), where + " .choices");
  if (!c) return c.error();
  if (c->size() != 4) return Error::of(ErrorCode::corrupt_input, where, "MMLU rows have 4 choices", "fix the row");
  it.context = mmlu_context(it.subject, text_of(j, "question"), *c);
  it.choices = {"A", "B", "C", "D"};
  const json& a = field(j, "answer");
  if (a.is_number_integer()) it.gold = a.get<std::int64_t>();
  else if (a.is_string() && a.get<std::string>().size() == 1) it.gold = a.get<std::string>()[0] - 'A';
  else return Error::of(ErrorCode::corrupt_input, where + " .answer", "is neither 0-3 nor A-D", "fix the row");
  return it;
}

Result<Item> hellaswag_item(const json& j, const std::string& where) {
  Item it;
  it.id = field(j, "ind").is_null() ? "" : "hellaswag-" + field(j, "ind").dump();
  it.subject = text_of(j, "activity_label").empty() ? "hellaswag" : text_of(j, "activity_label");
  const std::string ctx = text_of(j, "ctx_a") + " " + py_capitalize(text_of(j, "ctx_b"));
  it.context = hellaswag_preprocess(it.subject + ": " + ctx);
  auto e = strings(field(j, "endings"), where + " .endings");
  if (!e) return e.error();
  for (const std::string& x : *e) it.choices.push_back(hellaswag_preprocess(x));
  const json& l = field(j, "label");
  std::int64_t gold = -1;
  if (l.is_string()) {
    const std::string t = l.get<std::string>();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), gold);
    if (ec != std::errc() || end != t.data() + t.size() || t.empty())
      return Error::of(ErrorCode::corrupt_input, where + " .label", "\"" + t + "\" is not an index", "fix the row");
    it.gold = gold;
  } else if (l.is_number_integer()) it.gold = l.get<std::int64_t>();
  else return Error::of(ErrorCode::corrupt_input, where + " .label", "is missing (the test split has no labels)",
                        "use the validation split (hellaswag_val.jsonl)");
  return it;
}

Result<Item> qrun_item(const json& j, const std::string& where) {
  Item it;
  it.id = text_of(j, "id");
  it.subject = text_of(j, "subject").empty() ? "all" : text_of(j, "subject");
  it.context = text_of(j, "context");
  auto c = strings(field(j, "choices"), where + " .choices");
  if (!c) return c.error();
  it.choices = *c;
  if (!field(j, "answer").is_number_integer())
    return Error::of(ErrorCode::corrupt_input, where + " .answer", "is not an integer index", "give the right option's index");
  it.gold = field(j, "answer").get<std::int64_t>();
  return it;
}

std::string detect(const json& j) {
  if (j.contains("endings")) return "hellaswag";
  if (j.contains("answerKey")) return "arc";
  if (j.contains("context")) return "qrun";
  if (j.contains("question") && j.contains("choices") && j.contains("answer")) return "mmlu";
  return "";
}

Result<ItemSet> from_mmlu_csv(const std::filesystem::path& file, const std::string& text) {
  auto rows = behaviour::parse_csv(text, file.string());
  if (!rows) return rows.error();
  std::string subject = file.stem().string();
  for (const char* suffix : {"_test", "_val", "_dev"})
    if (subject.size() > std::string(suffix).size() && subject.ends_with(suffix)) subject.resize(subject.size() - std::string(suffix).size());
  ItemSet set{"mmlu", {}};
  for (std::size_t r = 0; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    const std::string where = file.string() + " row " + std::to_string(r + 1);
    if (row.size() != 6 || row[5].size() != 1 || row[5][0] < 'A' || row[5][0] > 'D')
      return Error::of(ErrorCode::corrupt_input, where, "is not question,A,B,C,D,answer-letter", "use MMLU's original CSV");
    Item it{subject + "-" + std::to_string(r), subject, mmlu_context(subject, row[0], {row[1], row[2], row[3], row[4]}),
            {"A", "B", "C", "D"}, row[5][0] - 'A'};
    set.items.push_back(std::move(it));
  }
  return set;
}

}  // namespace

std::string py_capitalize(const std::string& text) {
  std::string s = text;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char& c = s[i];
    if (i == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    else if (i > 0 && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string hellaswag_preprocess(const std::string& text) {
  std::string s = strip(text);
  s = replace_all(s, " [title]", ". ");
  static const std::regex bracket("\\[.*?\\]");  // re.sub("\\[.*?\\]", "", text)
  s = std::regex_replace(s, bracket, "");
  return replace_all(s, "  ", " ");  // Python's str.replace: non-overlapping, left to right, one pass
}

Result<ItemSet> load_items(const std::filesystem::path& file, const std::string& format) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Error::of(ErrorCode::not_found, file.string(), "cannot be opened",
                     "check the dataset path (datasets/README.md says how to fetch ARC, MMLU and HellaSwag)");
  std::ostringstream ss;
  ss << in.rdbuf();
  Result<ItemSet> set = ItemSet{};
  if (file.extension() == ".csv") {
    set = from_mmlu_csv(file, ss.str());
  } else {
    std::istringstream lines(ss.str());
    std::string line;
    std::size_t n = 0;
    while (std::getline(lines, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = file.string() + ":" + std::to_string(n);
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) return Error::of(ErrorCode::corrupt_input, where, "is not a JSON object", "write one object a line");
      const std::string f = format == "auto" ? detect(j) : format;
      if (f.empty())
        return Error::of(ErrorCode::corrupt_input, where, "is not an ARC, MMLU, HellaSwag or qrun row",
                         "see datasets/README.md, \"Multiple choice\"");
      Result<Item> it = f == "arc" ? arc_item(j, where) : f == "mmlu" ? mmlu_item(j, where)
                        : f == "hellaswag" ? hellaswag_item(j, where) : qrun_item(j, where);
      if (!it) return it.error();
      if (it->id.empty()) it->id = "line-" + std::to_string(n);
      set->format = f;
      set->items.push_back(std::move(*it));
    }
  }
  if (!set) return set;
  if (set->items.empty()) return Error::of(ErrorCode::corrupt_input, file.string(), "holds no items", "add items");
  for (const Item& it : set->items) {
    if (it.gold < 0 || it.gold >= static_cast<std::int64_t>(it.choices.size()))
      return Error::of(ErrorCode::corrupt_input, file.string() + " item " + it.id, "the answer index is out of range", "fix it");
    for (const std::string& c : it.choices)
      if (c.empty())
        return Error::of(ErrorCode::corrupt_input, file.string() + " item " + it.id, "has an empty choice",
                         "acc_norm divides by the choice's length; remove the item");
  }
  return set;
}

std::vector<Item> first_per_subject(const std::vector<Item>& items, std::int64_t limit) {
  if (limit <= 0) return items;
  std::map<std::string, std::int64_t> taken;
  std::vector<Item> out;
  for (const Item& it : items)
    if (taken[it.subject]++ < limit) out.push_back(it);
  return out;
}

}  // namespace qrun::mc
