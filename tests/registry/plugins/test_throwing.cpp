// TEST-ONLY plugin: its registration throws.
#include "foreign_info.hpp"

#include <stdexcept>

namespace test_throwing {
void fail(qrun::Registrar&) { throw std::runtime_error("registration fails on purpose"); }
const qrun_plugin_info* info() {
  static const qrun_plugin_info i = {TEST_QRUN_API_VERSION, "test_throwing", "0.1.0", TEST_TORCH_VERSION, &fail};
  return &i;
}
}  // namespace test_throwing
BOOST_DLL_ALIAS(test_throwing::info, qrun_plugin_info)
