// Link stand-in for framework/src/model/linear_kinds.cpp in fuzz_experiment: that file includes
// <ATen/ATen.h>, which clang-14 cannot compile in C++20 mode against libstdc++ 12 (libtorch 1.13's
// ivalue_inl.h instantiates std::vector<c10::IValue> while IValue is incomplete). The experiment
// loader never reaches linear kinds; the registry only records them when a plugin registers one.
#include "model/linear_kinds_registry.hpp"

namespace qrun {

Result<void> register_linear_kind(LinearKindInfo /*info*/, const std::string& /*library*/,
                                  std::shared_ptr<void> /*keepalive*/) {
  return {};
}

}  // namespace qrun
