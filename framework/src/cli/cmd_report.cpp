// qrun report RESULTS.json [-o FILE]
// qrun compare A.json B.json [-o FILE] [--labels A,B]
// Both render from results.json alone; the SVG charts are written next to the Markdown file.
#include "cli/command.hpp"
#include "report/report.hpp"
#include "results/results.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kReportUsage = "qrun report RESULTS.json [-o FILE]";
const char* kCompareUsage = "qrun compare A.json B.json [-o FILE] [--labels A,B]";

// The report's folder and file name. The renderer names the Markdown "report.md"; -o may rename
// it (the charts keep their names, beside it).
struct Target {
  std::filesystem::path dir;
  std::string md_name = "report.md";
};

Result<Target> target_of(const po::variables_map& vm, const std::filesystem::path& default_dir) {
  if (!vm.count("output")) return Target{default_dir.empty() ? std::filesystem::path(".") : default_dir};
  std::filesystem::path out = vm["output"].as<std::string>();
  if (out.empty() || !out.has_filename())
    return Error{"-o", "\"" + out.string() + "\" does not name a file", "give a file, e.g. -o reports/x/report.md"};
  Target t;
  t.dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  t.md_name = out.filename().string();
  return t;
}

Result<void> write(const Target& t, std::vector<ReportFile> files) {
  for (auto& f : files) {
    if (f.name == "report.md") f.name = t.md_name;
    else if (f.name == t.md_name)
      return Error{"-o " + (t.dir / t.md_name).string(), "would overwrite the chart " + f.name,
                   "choose another file name, e.g. report.md"};
  }
  // write_report_files writes "report.md" last; keep the Markdown last under its chosen name too.
  std::stable_partition(files.begin(), files.end(), [&](const ReportFile& f) { return f.name != t.md_name; });
  for (const auto& f : files) QRUN_TRY(write_report_files(t.dir, {f}));
  return {};
}

bool parse(const std::vector<std::string>& args, po::options_description& desc,
           const po::positional_options_description& positional, po::variables_map& vm, const char* usage, int& rc) {
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    rc = report_error(Error{std::string("qrun ") + (usage == kReportUsage ? "report" : "compare"), e.what(),
                            std::string("usage: ") + usage});
    return false;
  }
  return true;
}

int run_report(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc("Options of qrun report");
  desc.add_options()
      ("results", po::value<std::string>()->value_name("RESULTS.json"), "the results document of a run")
      ("output,o", po::value<std::string>()->value_name("FILE"), "Markdown file (default: report.md beside RESULTS.json)")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("results", 1);
  po::variables_map vm;
  int rc = 0;
  if (!parse(args, desc, positional, vm, kReportUsage, rc)) return rc;
  if (vm.count("help")) {
    std::cout << "Regenerates the harm report from a results.json: " << kReportUsage << "\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("results"))
    return report_error(Error{"qrun report", "no results file given", std::string("usage: ") + kReportUsage});
  const std::filesystem::path path = vm["results"].as<std::string>();
  auto doc = read_results(path);
  if (!doc) return report_error(doc.error());
  auto files = render_report(*doc);
  if (!files) return report_error(files.error().within(path.string()));
  auto target = target_of(vm, path.parent_path());
  if (!target) return report_error(target.error());
  if (auto w = write(*target, std::move(*files)); !w) return report_error(w.error());
  std::cout << (target->dir / target->md_name).string() << "\n";
  return 0;
}

int run_compare(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc("Options of qrun compare");
  desc.add_options()
      ("inputs", po::value<std::vector<std::string>>()->value_name("A.json B.json"), "two results documents")
      ("output,o", po::value<std::string>()->value_name("FILE"), "Markdown file (default: comparison.md beside A.json)")
      ("labels", po::value<std::string>()->value_name("A,B"), "column labels (default: A,B), e.g. undefended,defended")
      ("help,h", "show this help");
  po::positional_options_description positional;
  positional.add("inputs", 2);
  po::variables_map vm;
  int rc = 0;
  if (!parse(args, desc, positional, vm, kCompareUsage, rc)) return rc;
  if (vm.count("help")) {
    std::cout << "Compares two runs that share a baseline: " << kCompareUsage << "\n\n" << desc << "\n";
    return 0;
  }
  const auto inputs = vm.count("inputs") ? vm["inputs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (inputs.size() != 2)
    return report_error(Error{"qrun compare", "needs two results files", std::string("usage: ") + kCompareUsage});
  std::string la = "A", lb = "B";
  if (vm.count("labels")) {
    const std::string labels = vm["labels"].as<std::string>();
    const auto comma = labels.find(',');
    if (comma == std::string::npos || labels.find(',', comma + 1) != std::string::npos)
      return report_error(Error{"--labels", "\"" + labels + "\" is not two labels separated by one comma",
                                "write e.g. --labels undefended,defended"});
    la = labels.substr(0, comma);
    lb = labels.substr(comma + 1);
  }
  auto a = read_results(inputs[0]);
  if (!a) return report_error(a.error());
  auto b = read_results(inputs[1]);
  if (!b) return report_error(b.error());
  auto files = render_comparison(*a, *b, la, lb);
  if (!files) return report_error(files.error());
  Target target;
  if (vm.count("output")) {
    auto t = target_of(vm, {});
    if (!t) return report_error(t.error());
    target = *t;
  } else {
    const std::filesystem::path first(inputs[0]);
    target.dir = first.has_parent_path() ? first.parent_path() : std::filesystem::path(".");
    target.md_name = "comparison.md";
  }
  if (auto w = write(target, std::move(*files)); !w) return report_error(w.error());
  std::cout << (target.dir / target.md_name).string() << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_report, {"report", "Regenerate report.md and its SVG charts from a results.json", kReportUsage,
                              run_report});
QRUN_CLI_COMMAND(cmd_compare, {"compare", "Side-by-side report of two runs sharing a baseline (e.g. undefended vs defended)",
                               kCompareUsage, run_compare});

}  // namespace qrun::cli
