// TEST-ONLY backend plugin "behaviour_stub": loads the stub model of stub_model.hpp, so that
// the refusal metric's judge-model path (a judge loaded through a backend plugin) can be tested
// with a judge whose answers are known. Built into the test tree only (NO_INSTALL).
#include "stub_model.hpp"

#include <qrun/plugin.hpp>

namespace {

struct Cfg {
  std::string path;            // ignored (the judge loader always passes one)
  std::string mode = "judge_refused";
};

const auto schema = qrun::schema<Cfg>(qrun::field("path", &Cfg::path).doc("ignored"),
                                      qrun::field("mode", &Cfg::mode).doc("stub reply mode (stub_model.hpp)"));

qrun::Result<std::unique_ptr<qrun::Model>> load(const Cfg& c, qrun::RunContext&) {
  if (qrun::test::stub_reply(c.mode).empty()) return qrun::Error{"behaviour_stub.mode", "unknown: " + c.mode, "see stub_model.hpp"};
  return qrun::test::make_stub_model(c.mode);
}

}  // namespace

QRUN_PLUGIN("behaviour_stub", "0.1.0",
            qrun::backend("behaviour_stub", schema, "Test-only stub model with fixed replies.", load));
