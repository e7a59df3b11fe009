// The registry the experiment and runner tests use: only the TEST-ONLY plugins
// (tests/runner/plugins, built into QRUN_TEST_PLUGIN_DIR), loaded once.
#pragma once

#include "registry/registry.hpp"

#include <catch2/catch.hpp>

namespace qrun::test {

inline const Registry& test_registry() {
  static const Registry registry = [] {
    Registry r = Registry::load({QRUN_TEST_PLUGIN_DIR});
    for (const Error& e : r.refusals()) FAIL("test plugin refused: " << e.message());
    if (r.plugins().empty()) FAIL("no test plugins in " QRUN_TEST_PLUGIN_DIR "; build target qrun_test_plugins");
    return r;
  }();
  return registry;
}

}  // namespace qrun::test
