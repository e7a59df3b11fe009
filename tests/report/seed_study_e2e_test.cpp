// End to end: the real `qrun experiments/seed_study.toml` on tiny-qwen2 (CPU, float32), reduced
// only through --set (fewer WikiText-2 tokens, 3 prompt categories x 1 prompt, 8 new tokens, a
// short speed run), writes a complete results.json and a report.md with every section issue 6
// lists, with charts that exist and parse. The run happens once per process (the SECTIONs share
// it); ctest runs this TEST_CASE as one process.
#include "xml_check.hpp"

#include "report/format.hpp"
#include "support/assets.hpp"

#include <qrun/sha256.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;
using namespace qrun::test;

namespace {

const std::vector<std::string> kVariants = {"fp16", "llm_int8", "nf4"};
const std::vector<std::string> kMetrics = {"ppl_wikitext2", "kl_divergence", "prompt_suite", "model_size", "speed"};
const std::vector<std::string> kCategories = {"code_generation", "mathematical_reasoning", "question_answering"};
const char* const kTitle = "Seed study on tiny-qwen2 (CI, reduced)";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

struct SeedStudyRun {
  fs::path out;
  CommandResult command{1, ""};
  json results;
  std::string md;
};

// Runs the experiment once; later calls return the same run.
const SeedStudyRun& seed_study_run() {
  static SeedStudyRun run = [] {
    SeedStudyRun r;
    r.out = temp_dir("seed_study_e2e");
    const fs::path model = asset("models/tiny-qwen2/config.json").parent_path();
    const fs::path wiki = asset("datasets/wikitext-2-raw/wiki.test.raw");
    const std::vector<std::string> sets = {
        "model.path=" + model.string(),
        "model.dtype=float32",
        "model.device=cpu",
        "datasets[0].path=" + wiki.string(),
        "datasets[1].path=" + (source_dir() / "datasets/prompt_suite_96.json").string(),
        // 255 scored tokens: above KlStats' 100-token minimum, so the KL percentiles are reported.
        "metrics[0].max_length=128", "metrics[0].stride=64", "metrics[0].max_tokens=256",
        "metrics[1].max_length=128", "metrics[1].stride=64", "metrics[1].max_tokens=256",
        "metrics[2].categories=[\"code_generation\", \"mathematical_reasoning\", \"question_answering\"]",
        "metrics[2].limit_per_category=1", "metrics[2].max_new_tokens=8",
        "metrics[4].prompt_tokens=16", "metrics[4].new_tokens=4", "metrics[4].repetitions=2",
        std::string("report.title=") + kTitle,
    };
    std::string cmd = "cd " + quote(source_dir().string()) + " && " + quote(qrun_exe().string()) +
                      " experiments/seed_study.toml";
    for (const auto& s : sets) cmd += " --set " + quote(s);
    cmd += " --output " + quote(r.out.string());
    r.command = run_command(cmd);
    if (fs::exists(r.out / "results.json")) r.results = json::parse(slurp(r.out / "results.json"));
    if (fs::exists(r.out / "report.md")) r.md = slurp(r.out / "report.md");
    return r;
  }();
  return run;
}

// The text of a "## " section (up to the next "## " heading), "" when absent.
std::string section(const std::string& md, const std::string& heading) {
  auto at = md.find("\n" + heading + "\n");
  if (at == std::string::npos) return "";
  auto end = md.find("\n## ", at + heading.size() + 2);
  return md.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Cells of the first table row in `text` whose first cell is `first`.
std::vector<std::string> row(const std::string& text, const std::string& first) {
  for (const auto& l : lines_of(text)) {
    if (l.size() < 2 || l[0] != '|') continue;
    std::vector<std::string> cells;
    std::size_t pos = 1;
    while (pos < l.size()) {
      auto bar = l.find(" |", pos);
      if (bar == std::string::npos) break;
      std::string c = l.substr(pos, bar - pos);
      auto b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : c.substr(b, e - b + 1));
      pos = bar + 2;
    }
    if (!cells.empty() && cells[0] == first) return cells;
  }
  return {};
}

const json& value(const json& results, const std::string& variant, const std::string& metric, const std::string& name,
                  const std::string& group = "") {
  for (const auto& v : results["variants"])
    if (v["name"] == variant)
      for (const auto& x : v["metrics"][metric]["values"])
        if (x["name"] == name && x["group"] == group) return x;
  FAIL("results.json has no " << variant << " / " << metric << " / " << name << " [" << group << "]");
  static const json none;
  return none;
}

}  // namespace

TEST_CASE("qrun experiments/seed_study.toml on tiny-qwen2 writes a complete report with every section",
          "[report][e2e][slow]") {
  const SeedStudyRun& run = seed_study_run();
  INFO("qrun output:\n" << run.command.output);
  REQUIRE(run.command.exit_code == 0);
  REQUIRE(run.results.is_object());
  REQUIRE_FALSE(run.md.empty());
  const json& res = run.results;
  const std::string& md = run.md;

  SECTION("results.json has every cell of every variant, each with finite values and a method") {
    CHECK(res["complete"] == true);
    CHECK_FALSE(res.contains("error"));
    CHECK(res["provenance"]["finished"].is_string());
    REQUIRE(res["variants"].size() == kVariants.size());
    for (std::size_t i = 0; i < kVariants.size(); ++i) {
      const json& v = res["variants"][i];
      INFO("variant " << kVariants[i]);
      CHECK(v["name"] == kVariants[i]);
      CHECK(v["complete"] == true);
      CHECK(v["storage"]["total_bytes"].is_number());
      CHECK(v["metrics"].size() == kMetrics.size());
      for (const auto& m : kMetrics) {
        INFO("metric " << m);
        REQUIRE(v["metrics"].contains(m));
        const json& cell = v["metrics"][m];
        CHECK_FALSE(cell["values"].empty());
        CHECK_FALSE(cell["method"].get<std::string>().empty());
        for (const auto& x : cell["values"]) {
          INFO("value " << x.dump());
          CHECK(x["value"].is_number());  // JSON null would be a missing (non-finite) number
        }
      }
    }
  }

  SECTION("the report starts with the title and names the experiment, model hashes, device and versions") {
    CHECK(md.rfind(std::string("# ") + kTitle + "\n\n", 0) == 0);
    CHECK(md.find("INCOMPLETE RUN") == std::string::npos);
    const std::string head = md.substr(0, md.find("\n## "));
    CHECK(row(head, "Experiment").at(1) == "seed_study (`experiments/seed_study.toml`)");
    const auto date = row(head, "Date").at(1);
    CHECK(date == res["provenance"]["started"].get<std::string>() + " → " +
                      res["provenance"]["finished"].get<std::string>());
    const fs::path model = asset("models/tiny-qwen2/config.json").parent_path();
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.json"}) {
      auto sha = qrun::sha256_file(model / file);
      REQUIRE(sha.ok());
      CHECK(row(head, std::string("Model file `") + file + "`").at(1) == "sha256 `" + *sha + "`");
    }
    CHECK(row(head, "Device").at(1).rfind("cpu", 0) == 0);
    CHECK(row(head, "qrun").at(1).rfind(res["provenance"]["qrun_version"].get<std::string>(), 0) == 0);
    for (const char* plugin : {"hf", "int8", "nf4", "perplexity", "kl_divergence", "prompt_suite", "model_size", "speed"})
      CHECK(row(head, std::string("Plugin `") + plugin + "`").size() == 2);
    CHECK(row(head, "Dataset `wikitext2`").at(1).find(qrun::sha256_file(asset("datasets/wikitext-2-raw/wiki.test.raw"))
                                                          .value()) != std::string::npos);
  }

  SECTION("the executive summary has one paragraph per variant with its measured numbers") {
    const std::string s = section(md, "## Executive summary");
    std::vector<std::string> bullets;
    for (const auto& l : lines_of(s))
      if (l.rfind("- **", 0) == 0) bullets.push_back(l);
    REQUIRE(bullets.size() == kVariants.size());
    CHECK(bullets[0].rfind("- **fp16** (baseline)", 0) == 0);
    const double base_ppl = value(res, "fp16", "ppl_wikitext2", "ppl")["value"];
    for (std::size_t i = 1; i < kVariants.size(); ++i) {
      INFO(bullets[i]);
      CHECK(bullets[i].rfind("- **" + kVariants[i] + "**", 0) == 0);
      const double ppl = value(res, kVariants[i], "ppl_wikitext2", "ppl")["value"];
      const std::string pct = qrun::report::fmt_delta(100.0 * (ppl - base_ppl) / base_ppl) + " %";
      CHECK(bullets[i].find("ppl_wikitext2: PPL " + qrun::report::fmt_num(ppl)) != std::string::npos);
      CHECK(bullets[i].find("(" + pct + " vs fp16)") != std::string::npos);
      CHECK(bullets[i].find("kl_divergence: mean KL ") != std::string::npos);
      CHECK(bullets[i].find("same top p ") != std::string::npos);
      CHECK(bullets[i].find("× compression") != std::string::npos);
      CHECK(bullets[i].find("Criteria: ") != std::string::npos);
    }
  }

  SECTION("every criterion of the experiment's [report] table gets a measured pass or FAIL per variant") {
    const std::string s = section(md, "## Harm indicators and defense success criteria");
    const auto header = row(s, "Criterion");
    REQUIRE(header.size() == 4);
    CHECK(header[2] == "llm_int8");
    CHECK(header[3] == "nf4");
    CHECK(s.find("baseline **fp16**") != std::string::npos);
    const double base_ppl = value(res, "fp16", "ppl_wikitext2", "ppl")["value"];
    for (const char* key : {"`max_ppl_increase_pct`", "`max_kl_mean`", "`max_category_kl`"}) {
      const auto r = row(s, key);
      REQUIRE(r.size() == 4);
      for (std::size_t c = 2; c < 4; ++c) {
        INFO(key << " " << r[c]);
        CHECK(std::regex_search(r[c], std::regex(R"(^(pass|\*\*FAIL\*\*) -?[0-9.e+-]+ )")));
      }
    }
    // The verdict follows the measured number: ΔPPL <= 5 % passes.
    const auto ppl_row = row(s, "`max_ppl_increase_pct`");
    for (std::size_t c = 2; c < 4; ++c) {
      const double ppl = value(res, kVariants[c - 1], "ppl_wikitext2", "ppl")["value"];
      const bool pass = 100.0 * (ppl - base_ppl) / base_ppl <= 5.0;
      CHECK(ppl_row[c].rfind(pass ? "pass " : "**FAIL** ", 0) == 0);
    }
  }

  SECTION("the perplexity table states the protocol and the change vs the baseline in percent") {
    const std::string s = section(md, "## ppl_wikitext2 (`perplexity`)");
    REQUIRE_FALSE(s.empty());
    CHECK(s.find("Protocol: **sliding**") != std::string::npos);
    CHECK(row(s, "Variant").at(2) == "Δ PPL vs baseline");
    CHECK(row(s, "fp16").at(2) == "(baseline)");
    for (const char* v : {"llm_int8", "nf4"}) CHECK(std::regex_search(row(s, v).at(2), std::regex(R"( %$)")));
  }

  SECTION("the KL section lists llama.cpp's statistics and same-top-p for every variant") {
    const std::string s = section(md, "## kl_divergence");
    REQUIRE_FALSE(s.empty());
    for (const char* stat : {"mean KL", "KL max", "KL 99.9 %", "KL 99 %", "KL median", "KL 0.1 %", "KL min", "RMS Δp",
                             "same top p", "ln(PPL_Q/PPL_base)"}) {
      const auto r = row(s, stat);
      INFO(stat);
      REQUIRE(r.size() == 4);
      for (std::size_t c = 1; c < 4; ++c) CHECK(r[c] != "—");
    }
  }

  SECTION("size, compression, speed and slowdown are tabulated against the baseline") {
    const std::string variants = section(md, "## Variants");
    CHECK(row(variants, "**fp16**").at(6) == "1.000×");
    for (const char* v : {"**llm_int8**", "**nf4**"}) CHECK(std::regex_search(row(variants, v).at(6), std::regex(R"(^[0-9.]+×$)")));
    const std::string size = section(md, "## model_size");
    CHECK(row(size, "total size").at(2).find("smaller") != std::string::npos);
    const std::string speed = section(md, "## speed");
    CHECK(row(speed, "Variant").at(2) == "slowdown (prefill tokens/s)");
    CHECK(row(speed, "Variant").at(4) == "slowdown (decode tokens/s)");
    for (const char* v : {"llm_int8", "nf4"}) CHECK(std::regex_search(row(speed, v).at(4), std::regex(R"(^[0-9.e+-]+×$)")));
  }

  SECTION("the prompt suite has a per-category table per variant and Δ harm columns") {
    const std::string s = section(md, "## prompt_suite");
    REQUIRE_FALSE(s.empty());
    for (const auto& v : kVariants) {
      const std::string heading = "### prompt_suite per category: " + v + (v == "fp16" ? " (baseline)" : "");
      auto at = s.find(heading + "\n");
      REQUIRE(at != std::string::npos);
      const std::string table = s.substr(at, s.find("\n### ", at + 1) - at);
      const auto header = row(table, "Category");
      CHECK(header == std::vector<std::string>{"Category", "success", "mean time", "tokens/s", "accuracy", "agreement",
                                               "mean KL", "same top p"});
      for (const auto& c : kCategories) CHECK(row(table, c).size() == header.size());
    }
    for (const char* name : {"success", "mean time", "accuracy", "agreement", "mean KL"}) {
      const std::string heading = std::string("### prompt_suite: Δ harm per category, ") + name;
      auto at = s.find(heading);
      INFO(heading);
      REQUIRE(at != std::string::npos);
      const std::string table = s.substr(at, s.find("\n### ", at + 1) - at);
      const auto header = row(table, "Category");
      CHECK(std::find(header.begin(), header.end(), "Δ harm nf4 vs fp16") != header.end());
      CHECK(std::find(header.begin(), header.end(), "Δ harm llm_int8 vs fp16") != header.end());
    }
    // The KL of a category in the table is the number in results.json.
    const double kl = value(res, "nf4", "prompt_suite", "kl_mean", "mathematical_reasoning")["value"];
    const auto nf4_at = s.find("### prompt_suite per category: nf4");
    CHECK(row(s.substr(nf4_at), "mathematical_reasoning").at(6).rfind(qrun::report::fmt_num(kl) + " ± ", 0) == 0);
  }

  SECTION("every chart is an SVG next to the report, linked, well-formed, with text bars") {
    const std::string s = section(md, "## Charts");
    REQUIRE_FALSE(s.empty());
    std::set<std::string> linked;
    const std::regex link(R"(!\[[^\]]*\]\(([^)]+)\))");
    for (auto it = std::sregex_iterator(md.begin(), md.end(), link); it != std::sregex_iterator(); ++it)
      linked.insert((*it)[1].str());
    for (const char* want : {"chart_ppl_wikitext2_ppl_delta.svg", "chart_prompt_suite_kl_mean_by_category.svg", "chart_size.svg",
                             "chart_speed_prefill_tokens_per_s.svg", "chart_speed_decode_tokens_per_s.svg"})
      CHECK(linked.count(want) == 1);
    for (const auto& file : linked) {
      INFO(file);
      REQUIRE(fs::exists(run.out / file));
      std::string err;
      auto xml = check_xml(slurp(run.out / file), err);
      INFO(err);
      REQUIRE(xml);
      CHECK(xml->root == "svg");
      CHECK(std::count(xml->elements.begin(), xml->elements.end(), "rect") >= 2);  // background + bars
    }
    std::size_t svgs_on_disk = 0;
    for (const auto& e : fs::directory_iterator(run.out))
      if (e.path().extension() == ".svg") {
        ++svgs_on_disk;
        CHECK(linked.count(e.path().filename().string()) == 1);
      }
    CHECK(svgs_on_disk == linked.size());
    std::size_t text_blocks = 0;
    for (std::size_t at = s.find("```text\n"); at != std::string::npos; at = s.find("```text\n", at + 1)) ++text_blocks;
    CHECK(text_blocks == linked.size());
    CHECK(s.find("█") != std::string::npos);
  }

  SECTION("the method section repeats each metric's own description, parameters and dataset hash") {
    const std::string s = section(md, "## Method");
    REQUIRE_FALSE(s.empty());
    CHECK(s.find("Run seed: 0.") != std::string::npos);
    for (const auto& m : kMetrics) {
      const std::string method = res["variants"][0]["metrics"][m]["method"];  // the section shows the first variant's
      INFO(m);
      CHECK(s.find(method) != std::string::npos);
    }
    CHECK(s.find("max_tokens=256") != std::string::npos);
    CHECK(s.find("limit_per_category=1") != std::string::npos);
    CHECK(s.find("### Criteria definitions") != std::string::npos);
  }

  SECTION("qrun report regenerates the same report.md from results.json alone") {
    const fs::path again = temp_dir("seed_study_e2e_report");
    auto r = run_command(quote(qrun_exe().string()) + " report " + quote((run.out / "results.json").string()) + " -o " +
                         quote((again / "report.md").string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(again / "report.md") == md);
  }
}
