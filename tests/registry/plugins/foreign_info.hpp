// TEST-ONLY: the entry-point struct as a plugin built from another copy of qrun's headers would
// declare it, without including qrun/plugin.hpp (which pulls in ATen; these fixtures stay quick to
// compile). The layout must match qrun_plugin_info in framework/include/qrun/plugin.hpp.
#pragma once

#include <boost/dll/alias.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdint>

namespace qrun {
class Registrar;
}

extern "C" struct qrun_plugin_info {
  std::uint32_t api_version;
  const char* id;
  const char* version;
  const char* torch_version;
  void (*register_factories)(qrun::Registrar&);
};

#define TEST_STR2_(x) #x
#define TEST_STR_(x) TEST_STR2_(x)
// The torch this tree builds against, spelled as QRUN_TORCH_VERSION_STRING spells it.
#define TEST_TORCH_VERSION \
  TEST_STR_(TORCH_VERSION_MAJOR) "." TEST_STR_(TORCH_VERSION_MINOR) "." TEST_STR_(TORCH_VERSION_PATCH)
// TEST_QRUN_API_VERSION (this tree's QRUN_PLUGIN_API_VERSION) comes from tests/registry/CMakeLists.txt.
