// TEST-ONLY plugin: a correct header whose registration callback is null.
#include "foreign_info.hpp"

namespace test_no_callback {
const qrun_plugin_info* info() {
  static const qrun_plugin_info i = {TEST_QRUN_API_VERSION, "test_no_callback", "0.1.0", TEST_TORCH_VERSION, nullptr};
  return &i;
}
}  // namespace test_no_callback
BOOST_DLL_ALIAS(test_no_callback::info, qrun_plugin_info)
