#include "backend/fixture.hpp"

#include "load.hpp"
#include "registry/registry.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <fstream>

namespace qrun::test {

RunContext& test_context() {
  static std::unique_ptr<RunContext> ctx = make_default_context(0, c10::Device(c10::kCPU));
  return *ctx;
}

// The product plugins (QRUN_PLUGIN_PATH, set by ctest): quantized checkpoints need the linear
// kinds the quantizer plugins register.
const Registry& plugin_registry() {
  static const Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

Result<std::unique_ptr<Model>> try_load_model(const std::filesystem::path& folder, const std::string& dtype,
                                              const std::string& device) {
  (void)plugin_registry();
  hf::HfParams p;
  p.path = folder.string();
  p.dtype = dtype;
  p.device = device;
  return hf::load_hf_model(p, test_context());
}

std::unique_ptr<Model> load_model(const std::filesystem::path& folder, const std::string& dtype,
                                  const std::string& device) {
  auto m = try_load_model(folder, dtype, device);
  if (!m) FAIL("loading " << folder << " failed: " << m.error().message());
  return std::move(*m);
}

at::Tensor golden_tensor(const std::filesystem::path& file, const std::string& name) {
  auto f = SafetensorsFile::open(file);
  if (!f) FAIL(f.error().message());
  auto t = f->load(name);
  if (!t) FAIL(t.error().message());
  return *t;
}

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

at::Tensor row(const std::vector<std::int64_t>& ids) { return at::tensor(ids, at::kLong).unsqueeze(0); }

}  // namespace qrun::test
