// TEST-ONLY plugin: claims to be built against a torch this qrun does not use.
#include "foreign_info.hpp"

namespace test_wrong_torch {
void register_nothing(qrun::Registrar&) {}
const qrun_plugin_info* info() {
  static const qrun_plugin_info i = {TEST_QRUN_API_VERSION, "test_wrong_torch", "0.1.0", "0.0.1", &register_nothing};
  return &i;
}
}  // namespace test_wrong_torch
BOOST_DLL_ALIAS(test_wrong_torch::info, qrun_plugin_info)
