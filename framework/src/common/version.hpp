// Versions qrun reports (`qrun --version`, results.json provenance). Internal.
#pragma once

#include <string>
#include <string_view>

namespace qrun {

std::string_view qrun_version();        // the project's version, "0.1.0"
std::string_view torch_build_version(); // the torch qrun was built against, "1.13.1"

}  // namespace qrun
