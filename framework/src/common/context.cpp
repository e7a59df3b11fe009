// make_default_context (qrun/context.hpp): seed, device, spdlog logging and progress for tools
// and tests.
#include <qrun/context.hpp>

#include "common/progress.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

namespace qrun {
namespace {

class DefaultContext final : public RunContext {
 public:
  DefaultContext(std::uint64_t seed, c10::Device device) : seed_(seed), device_(device) {}

  std::uint64_t seed() const override { return seed_; }
  c10::Device device() const override { return device_; }
  at::Generator generator(std::uint64_t seed) const override { return at::detail::createCPUGenerator(seed); }

  void debug(const std::string& message) const override { spdlog::debug("{}", message); }
  void info(const std::string& message) const override { spdlog::info("{}", message); }
  void warn(const std::string& message) const override { spdlog::warn("{}", message); }

  std::unique_ptr<Progress> progress(const std::string& label, std::int64_t total) const override {
    return make_progress(label, total);
  }

 private:
  std::uint64_t seed_;
  c10::Device device_;
};

}  // namespace

std::unique_ptr<RunContext> make_default_context(std::uint64_t seed, c10::Device device) {
  return std::make_unique<DefaultContext>(seed, device);
}

}  // namespace qrun
