#include "fixture.hpp"

#include "report/report.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace qrun::test {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json golden_results() {
  return nlohmann::json::parse(read_file((source_dir() / "tests/report/golden/results.json").string()));
}

qrun::Result<std::vector<qrun::ReportFile>> render_json(const nlohmann::json& results) {
  auto r = qrun::results_from_json(results);
  if (!r) return r.error();
  return qrun::render_report(*r);
}

qrun::Result<std::vector<qrun::ReportFile>> compare_json(const nlohmann::json& a, const nlohmann::json& b,
                                                         const std::string& label_a, const std::string& label_b) {
  auto ra = qrun::results_from_json(a, label_a);
  if (!ra) return ra.error();
  auto rb = qrun::results_from_json(b, label_b);
  if (!rb) return rb.error();
  return qrun::render_comparison(*ra, *rb, label_a, label_b);
}

std::string render_md(const nlohmann::json& results) {
  auto files = render_json(results);
  if (!files) FAIL("render_report failed: " << files.error().message());
  for (const auto& f : *files)
    if (f.name == "report.md") return f.content;
  FAIL("render_report gave no report.md");
  return "";
}

namespace {
std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(' ');
  auto e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
}  // namespace

std::vector<std::string> table_row(const std::string& md, const std::string& heading, const std::string& first) {
  auto at = md.find("\n" + heading + "\n");
  if (at == std::string::npos) return {};
  std::istringstream in(md.substr(at + heading.size() + 2));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0 || line.rfind("### ", 0) == 0) break;  // next section
    if (line.size() < 2 || line[0] != '|') continue;
    std::vector<std::string> cells;
    std::size_t pos = 1;
    while (pos < line.size()) {
      std::size_t bar = line.find(" |", pos);
      if (bar == std::string::npos) break;
      cells.push_back(trim(line.substr(pos, bar - pos)));
      pos = bar + 2;
    }
    if (!cells.empty() && cells[0] == first) return cells;
  }
  return {};
}

}  // namespace qrun::test
