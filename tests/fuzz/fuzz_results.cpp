// libFuzzer harness: results.json as `qrun report` and `qrun compare` read it back
// (framework/src/results: results_from_json; framework/src/report: render_report and
// render_comparison of the document against itself). The input is the whole file; it is parsed
// as read_results does (nlohmann, no exceptions; invalid JSON is an error, not a crash).
// Invariants beyond "no crash": an error has a reason and renders as one line of bounded length.
// Rendering costs ~100x the reading (charts, tables): QRUN_FUZZ_RESULTS_READ_ONLY=1 fuzzes the
// reader alone (results_from_json + to_json, what resume and merge use), for long campaigns.
#include "report/report.hpp"
#include "results/results.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void check_error(const qrun::Error& e) {
  const std::string m = e.message();
  if (e.reason.empty() || m.size() > 4000 || m.find('\n') != std::string::npos) {
    std::fprintf(stderr, "bad error message (%zu bytes): %.300s\n", m.size(), m.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto r = qrun::results_from_json(j, "results.json");
  if (!r) {
    check_error(r.error());
    return 0;
  }
  (void)qrun::to_json(*r).dump();
  static const bool read_only = std::getenv("QRUN_FUZZ_RESULTS_READ_ONLY") != nullptr;
  if (read_only) return 0;
  auto report = qrun::render_report(*r);
  if (!report) check_error(report.error());
  auto cmp = qrun::render_comparison(*r, *r, "a", "b");
  if (!cmp) check_error(cmp.error());
  return 0;
}
