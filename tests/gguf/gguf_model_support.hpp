// Shared helpers of the GGUF model tests (gguf_export_test.cpp, gguf_backend_test.cpp): loading a
// model through the plugins, exporting it with the gguf quantizer's `export` parameter, and
// loading a GGUF file through the gguf_file backend.
#pragma once

#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/model.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace qrun::test {

inline const Registry& gguf_registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

inline std::unique_ptr<Model> load_with(const std::string& backend, const std::string& path) {
  auto b = gguf_registry().make_backend(backend, {{"path", path}, {"dtype", std::string("float32")}, {"device", std::string("cpu")}});
  if (!b) FAIL(b.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

inline Result<std::unique_ptr<Model>> try_load_gguf(const std::filesystem::path& file) {
  auto b = gguf_registry().make_backend("gguf_file", {{"path", file.string()}, {"dtype", std::string("auto")}, {"device", std::string("cpu")}});
  if (!b) return b.error();
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  return (*b)->load(*ctx);
}

// Applies gguf:type=<type> to `model` (in place) and writes it to `out`.
inline void quantize_and_export(Model& model, const std::string& type, const std::filesystem::path& out) {
  auto t = gguf_registry().make_transform("gguf", {{"type", type}, {"export", out.string()}});
  if (!t) FAIL(t.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(model, *ctx);
  if (!r) FAIL(r.error().message());
}

}  // namespace qrun::test
