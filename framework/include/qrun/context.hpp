// RunContext: what a plugin may use of the run besides its own parameters: seed, device, logging,
// progress. Deliberately small: no global configuration, no hidden device or RNG.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace qrun {

// A progress reporter for one long loop. Prints a bar on a terminal, or periodic lines with an ETA.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void advance(std::int64_t n = 1) = 0;
  virtual void finish() = 0;  // idempotent; also called by the destructor of the implementation
};

class RunContext {
 public:
  virtual ~RunContext() = default;

  // The experiment's seed; plugins derive their own streams from it (e.g. seed ^ hash(plugin id)).
  virtual std::uint64_t seed() const = 0;
  // The device models live on ("cpu" or "cuda:N").
  virtual c10::Device device() const = 0;
  // A CPU generator seeded with `seed` (deterministic across runs and devices).
  virtual at::Generator generator(std::uint64_t seed) const = 0;

  virtual void debug(const std::string& message) const = 0;
  virtual void info(const std::string& message) const = 0;
  virtual void warn(const std::string& message) const = 0;

  // Starts a progress reporter for `total` steps labelled `label`.
  virtual std::unique_ptr<Progress> progress(const std::string& label, std::int64_t total) const = 0;
};

// A context for tools and tests: logs through spdlog's default logger, progress as periodic lines.
std::unique_ptr<RunContext> make_default_context(std::uint64_t seed, c10::Device device);

}  // namespace qrun
