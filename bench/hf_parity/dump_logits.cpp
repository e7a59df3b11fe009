// qrun_dump_logits: loads a model through the "hf" backend and writes the float32 logits of the
// given input ids, so that bench/reference/gpu_parity.py can compare them with transformers.
//   qrun_dump_logits MODEL_DIR DTYPE DEVICE IDS.safetensors OUT.safetensors
// IDS.safetensors holds "input_ids" [B, T] int64 (no padding). OUT gets "logits" [B, T, V] float32.
#include "registry/registry.hpp"

#include <qrun/context.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <string>

namespace {
int fail(const qrun::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message().c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: qrun_dump_logits MODEL_DIR DTYPE DEVICE IDS.safetensors OUT.safetensors\n");
    return 2;
  }
  c10::InferenceMode guard;
  const c10::Device device(std::string(argv[3]) == "auto" ? "cpu" : argv[3]);
  auto registry = qrun::Registry::load(qrun::plugin_search_dirs({}));
  for (const qrun::Error& refused : registry.refusals()) std::fprintf(stderr, "warning: %s\n", refused.message().c_str());
  auto backend = registry.make_backend(
      "hf", {{"path", std::string(argv[1])}, {"dtype", std::string(argv[2])}, {"device", std::string(argv[3])}});
  if (!backend) return fail(backend.error());
  auto ctx = qrun::make_default_context(0, device);
  auto model = (*backend)->load(*ctx);
  if (!model) return fail(model.error());
  auto ids_file = qrun::SafetensorsFile::open(argv[4]);
  if (!ids_file) return fail(ids_file.error());
  auto ids = ids_file->load("input_ids");
  if (!ids) return fail(ids.error());
  at::Tensor input = ids->to(at::kLong).to((*model)->device());
  at::Tensor logits = (*model)->logits(input).to(at::kCPU).contiguous();
  auto written = qrun::write_safetensors(argv[5], {{"logits", logits}});
  if (!written) return fail(written.error());
  std::printf("wrote logits %s\n", argv[5]);
  return 0;
}
