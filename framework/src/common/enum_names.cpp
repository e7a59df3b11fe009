// Spellings of the small public enums (Kind, Role, Better, ErrorCode), as they appear in TOML, JSON and reports.
#include <qrun/metric.hpp>
#include <qrun/plugin.hpp>
#include <qrun/transform.hpp>

namespace qrun {

std::string_view to_string(Kind k) {
  switch (k) {
    case Kind::backend: return "backend";
    case Kind::transform: return "transform";
    case Kind::metric: return "metric";
  }
  return "unknown";
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::defense: return "defense";
    case Role::quantizer: return "quantizer";
  }
  return "unknown";
}

std::string_view to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::corrupt_input: return "corrupt_input";
    case ErrorCode::io: return "io";
    case ErrorCode::resource: return "resource";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

std::string_view to_string(Better b) {
  switch (b) {
    case Better::higher: return "higher";
    case Better::lower: return "lower";
    case Better::none: return "none";
  }
  return "unknown";
}

}  // namespace qrun
