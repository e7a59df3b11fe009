// write_report_files: every file through results' atomic writer (temp file + rename), charts
// first and report.md last, so a report.md on disk always has its charts beside it.
#include "report/report.hpp"

#include "results/results.hpp"

#include <algorithm>

namespace qrun {

Result<void> write_report_files(const std::filesystem::path& dir, const std::vector<ReportFile>& files) {
  std::vector<const ReportFile*> order;
  for (const auto& f : files) {
    std::filesystem::path rel(f.name);
    if (f.name.empty() || rel.is_absolute() || rel.has_parent_path() || f.name == "." || f.name == "..")
      return Error{"report file \"" + f.name + "\"", "is not a plain file name", "name report files without folders"};
    order.push_back(&f);
  }
  std::stable_partition(order.begin(), order.end(), [](const ReportFile* f) { return f->name != "report.md"; });
  for (const ReportFile* f : order) QRUN_TRY(write_text_atomic(dir / f->name, f->content));
  return {};
}

}  // namespace qrun
