// compressed-tensors pack-quantized layers (plugins/quantizers/compressed_tensors): hand-built with
// a transcription of compressed-tensors' pack_to_int32 (offset codes, element i at global bit
// i * b of each row's int32 stream), loaded by the kind's recogniser and loader, and compared with
// W = (q - zp) * scale computed here from the format's definition.
#include "registry/registry.hpp"

#include <qrun/linear_kind.hpp>
#include <qrun/plugin.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <vector>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

// pack_to_int32(value, num_bits, packed_dim=1): value int [rows, cols] signed.
at::Tensor ct_pack(const at::Tensor& value, int bits) {
  const std::int64_t rows = value.size(0), cols = value.size(1), words = (cols * bits + 31) / 32;
  at::Tensor out = at::zeros({rows, words}, at::kLong);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<std::uint32_t> w(static_cast<std::size_t>(words) + 1, 0);
    for (std::int64_t i = 0; i < cols; ++i) {
      const std::uint64_t v = static_cast<std::uint64_t>(value[r][i].item<std::int64_t>() + (1 << (bits - 1)));
      const std::int64_t start = i * bits;
      w[static_cast<std::size_t>(start / 32)] |= static_cast<std::uint32_t>(v << (start % 32));
      if (start % 32 + bits > 32) w[static_cast<std::size_t>(start / 32 + 1)] |= static_cast<std::uint32_t>(v >> (32 - start % 32));
    }
    for (std::int64_t k = 0; k < words; ++k) out[r][k] = static_cast<std::int64_t>(static_cast<std::int32_t>(w[static_cast<std::size_t>(k)]));
  }
  return out.to(at::kInt);
}

}  // namespace

TEST_CASE("compressed-tensors pack-quantized layers load as (q - zp) * scale at 3, 4 and 8 bits", "[compressed_tensors][format]") {
  c10::InferenceMode guard;
  (void)registry();
  const LinearKindInfo* kind = find_linear_kind("ct_pack_quantized");
  REQUIRE(kind != nullptr);
  CHECK(kind->recognizes({"weight_packed", "weight_scale", "weight_shape"}));
  CHECK(kind->recognizes({"weight_packed", "weight_scale", "weight_shape", "weight_zero_point", "weight_g_idx"}));
  CHECK_FALSE(kind->recognizes({"weight_packed", "weight_scale", "weight_global_scale"}));  // nvfp4's
  const std::int64_t out = 40, in = 96, group = 32;
  for (int bits : {3, 4, 8})
    for (bool asym : {false, true})
      for (bool act : {false, true}) {
        CAPTURE(bits, asym, act);
        at::manual_seed(bits * 4 + asym * 2 + act);
        const std::int64_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
        const at::Tensor q = at::randint(lo, hi + 1, {out, in}, at::TensorOptions().dtype(at::kLong));
        const at::Tensor zp = at::randint(lo, hi + 1, {out, in / group}, at::TensorOptions().dtype(at::kLong));
        const at::Tensor scale = (at::rand({out, in / group}) * 0.01 + 1e-3).to(at::kHalf);
        const at::Tensor g = act ? at::argsort(at::randperm(in)).div(group, "floor").to(at::kInt)
                                 : at::arange(in).div(group, "floor").to(at::kInt);
        NamedTensors t = {{"weight_packed", ct_pack(q, bits)}, {"weight_scale", scale},
                          {"weight_shape", at::tensor(std::vector<std::int64_t>{out, in})}};
        if (asym) t.emplace_back("weight_zero_point", ct_pack(zp.t().contiguous(), bits).t().contiguous());
        if (act) t.emplace_back("weight_g_idx", g);
        auto layer = kind->load(LinearState{"l", t, nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
        if (!layer) FAIL(layer.error().message());
        at::Tensor want = at::empty({out, in});
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t c = 0; c < in; ++c) {
            const std::int64_t gi = g[c].item<std::int64_t>();
            const std::int64_t z = asym ? zp[o][gi].item<std::int64_t>() : 0;
            want[o][c] = static_cast<float>(q[o][c].item<std::int64_t>() - z) * scale[o][gi].item<float>();
          }
        CHECK(at::equal((*layer)->weight(at::kFloat), want));
        CHECK((*layer)->storage().code_bits == bits);
      }
}
