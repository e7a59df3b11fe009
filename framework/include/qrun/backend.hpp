// Backends turn a model reference (folder or hub id) into a Model.
#pragma once

#include <qrun/context.hpp>
#include <qrun/error.hpp>
#include <qrun/model.hpp>

#include <memory>

namespace qrun {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<std::unique_ptr<Model>> load(RunContext& ctx) = 0;
};

}  // namespace qrun
