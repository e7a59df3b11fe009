// Versions compiled into libqrun_core.
#include "common/version.hpp"

#include <qrun/plugin.hpp>

namespace qrun {

std::string_view qrun_version() { return QRUN_VERSION; }
std::string_view torch_build_version() { return QRUN_TORCH_VERSION_STRING; }

}  // namespace qrun
