// Transforms change a Model's weights in place. Defenses run first, then at most one quantizer.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace qrun {

enum class Role { defense, quantizer };
std::string_view to_string(Role r);  // "defense", "quantizer"

// What a transform did, recorded in results.json under the variant.
struct TransformReport {
  std::string summary;       // one line for logs and the report ("quantized 14 layers to nf4")
  nlohmann::json details;    // structured facts (layers touched, realised noise std, ...)
};

class Transform {
 public:
  virtual ~Transform() = default;
  virtual Result<TransformReport> apply(Model& model, RunContext& ctx) = 0;
};

}  // namespace qrun
