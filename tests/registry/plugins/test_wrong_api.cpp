// TEST-ONLY plugin: exports qrun_plugin_info claiming a future plugin API version.
#include "foreign_info.hpp"

namespace test_wrong_api {
const qrun_plugin_info* info() {
  static const qrun_plugin_info i = {TEST_QRUN_API_VERSION + 1, "test_wrong_api", "0.1.0", TEST_TORCH_VERSION, nullptr};
  return &i;
}
}  // namespace test_wrong_api
BOOST_DLL_ALIAS(test_wrong_api::info, qrun_plugin_info)
