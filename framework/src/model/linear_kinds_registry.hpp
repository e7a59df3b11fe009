// The registering side of the linear-kind registry (qrun/linear_kind.hpp has the finding side):
// used by the plugin registry only.
#pragma once

#include <qrun/linear_kind.hpp>

#include <memory>
#include <string>

namespace qrun {

// Adds `info`, registered by the library file `library`; `keepalive` (the library's handle) is
// kept until exit. Registering the same name again from the same library is a no-op; from another
// library it is an error.
Result<void> register_linear_kind(LinearKindInfo info, const std::string& library, std::shared_ptr<void> keepalive);
// The file that registered kind `name` ("" when none).
std::string linear_kind_library(std::string_view name);

}  // namespace qrun
