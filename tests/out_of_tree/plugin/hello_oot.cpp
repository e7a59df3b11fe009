// An out-of-tree defense that leaves the model as it is (it exists to test the CMake package).
#include <qrun/plugin.hpp>

namespace {
struct Cfg {
  std::int64_t repeat = 1;
};
const auto schema = qrun::schema<Cfg>(qrun::field("repeat", &Cfg::repeat).min(1).doc("how often to do nothing"));

qrun::Result<qrun::TransformReport> apply(const Cfg& p, qrun::Model&, qrun::RunContext&) {
  return qrun::TransformReport{"did nothing " + std::to_string(p.repeat) + " times", {}};
}
}  // namespace

QRUN_PLUGIN("hello_oot", "0.0.1",
            qrun::transform("hello_oot", schema, qrun::Role::defense, "Does nothing (out-of-tree test).", apply));
