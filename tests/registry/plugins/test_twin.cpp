// TEST-ONLY plugin: registers "test_noise", a name test_good already registered.
#include <qrun/plugin.hpp>

namespace {
qrun::Result<qrun::TransformReport> apply(const qrun::NoParams&, qrun::Model&, qrun::RunContext&) {
  return qrun::TransformReport{"nothing", {}};
}
}  // namespace

QRUN_PLUGIN("test_twin", "0.1.0",
            qrun::transform("test_noise", qrun::no_params(), qrun::Role::defense, "A clashing name.", apply));
