// A linear layer of FP4 E2M1 weights in blocks along the input dimension with one byte-coded scale
// per block: MXFP4 (block 32, E8M0 scale) and NVFP4 (block 16, FP8 E4M3 scale times 1 / a float32
// per-tensor global scale). Shared by the mxfp4 and nvfp4 plugins (header only). Stored as
// compressed-tensors names them: "weight_packed" uint8 [out, ceil(in/block)*block/2] (two codes a
// byte, the even element in the low nibble; a partial last block is padded with zero codes),
// "weight_scale" uint8 [out, blocks] (E8M0 codes or FP8 E4M3 bytes) and, for NVFP4,
// "weight_global_scale" float32 [1].
#pragma once

#include "minifloat.hpp"

#include <qrun/linear.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <string>

namespace qrun::minifloat {

enum class BlockScale { e8m0, e4m3 };

class Fp4BlockLinear final : public LinearImpl {
 public:
  Fp4BlockLinear(std::string kind, at::Tensor packed, at::Tensor scales, at::Tensor global, at::Tensor bias,
                 BlockScale sf, std::int64_t block, std::int64_t out, std::int64_t in, c10::ScalarType compute)
      : kind_(std::move(kind)), p_(std::move(packed)), s_(std::move(scales)), g_(std::move(global)), b_(std::move(bias)),
        sf_(sf), block_(block), out_(out), in_(in), compute_(compute) {}

  std::string kind() const override { return kind_; }
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return out_; }
  // Per block: decoded scale (E8M0: 2^(c - 127); E4M3: value / global scale, in float32).
  at::Tensor block_scales() const {
    at::Tensor s;
    if (sf_ == BlockScale::e8m0) {
      s = at::pow(2.0, s_.to(at::kFloat) - 127.0);
      s = s.masked_fill(s_ == 255, std::nan(""));
    } else {
      s = decode(s_, kE4M3) / g_.to(at::kFloat);
    }
    return s;
  }
  at::Tensor weight(c10::ScalarType dt) const override {
    const at::Tensor v = decode(unpack_nibbles(p_), kE2M1).reshape({out_, -1, block_});
    return (v * block_scales().unsqueeze(2)).reshape({out_, -1}).slice(1, 0, in_).contiguous().to(dt);
  }
  at::Tensor forward(const at::Tensor& x) const override { return at::linear(x, weight(x.scalar_type()), bias()); }
  at::Tensor bias() const override { return b_.defined() ? b_.to(compute_) : at::Tensor(); }
  bool forward_is_dequantized_linear() const override { return true; }
  StorageInfo storage() const override {
    auto nb = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<std::int64_t>(t.element_size()) : 0; };
    const std::int64_t bytes = nb(p_) + nb(s_) + nb(g_) + nb(b_);
    return {bytes, bytes, 4, kind_ + " e2m1 b" + std::to_string(block_)};
  }
  NamedTensors state() const override {
    NamedTensors t{{"weight_packed", p_}, {"weight_scale", s_}};
    if (g_.defined()) t.emplace_back("weight_global_scale", g_);
    if (b_.defined()) t.emplace_back("bias", b_);
    return t;
  }
  // NVFP4's E4M3 block scales are written as safetensors F8_E4M3 (safetensors.cpp), as
  // compressed-tensors stores them; E8M0 codes stay U8.
  nlohmann::json metadata() const override {
    nlohmann::json m = {{"block_size", block_}, {"shape", {out_, in_}}};
    if (sf_ == BlockScale::e4m3) m["safetensors_dtypes"] = {{"weight_scale", "F8_E4M3"}};
    return m;
  }
  std::shared_ptr<LinearImpl> clone_to(c10::Device d) const override {
    auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(d, false, true) : t; };
    return std::make_shared<Fp4BlockLinear>(kind_, mv(p_), mv(s_), mv(g_), mv(b_), sf_, block_, out_, in_, compute_);
  }

 private:
  std::string kind_;
  at::Tensor p_, s_, g_, b_;
  BlockScale sf_;
  std::int64_t block_, out_, in_;
  c10::ScalarType compute_;
};

// w [out, in] float32 -> [out, blocks, block] with a zero-padded last block.
inline at::Tensor blocks_of(const at::Tensor& w, std::int64_t block) {
  const std::int64_t in = w.size(1), padded = (in + block - 1) / block * block;
  return at::constant_pad_nd(w, {0, padded - in}).reshape({w.size(0), -1, block});
}

}  // namespace qrun::minifloat
