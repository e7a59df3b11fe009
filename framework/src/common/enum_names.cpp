// Spellings of the small public enums (Kind, Role, Better), as they appear in TOML, JSON and reports.
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

std::string_view to_string(Better b) {
  switch (b) {
    case Better::higher: return "higher";
    case Better::lower: return "lower";
    case Better::none: return "none";
  }
  return "unknown";
}

}  // namespace qrun
