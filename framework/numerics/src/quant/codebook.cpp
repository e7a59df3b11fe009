// Code books and value -> code rounding of bitsandbytes (see qrun/quant/codebook.hpp for sources).
#include <qrun/quant/codebook.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace qrun::quant {

std::string_view to_string(FourBit t) { return t == FourBit::nf4 ? "nf4" : "fp4"; }

std::optional<FourBit> parse_four_bit(std::string_view s) {
  if (s == "nf4") return FourBit::nf4;
  if (s == "fp4") return FourBit::fp4;
  return std::nullopt;
}

const std::array<float, 16>& nf4_code_book() {
  // NormalFloat4 (QLoRA), bitsandbytes get_4bit_type("nf4"); index = code.
  static const std::array<float, 16> k = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
      -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
      0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
      0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
  return k;
}

const std::array<float, 16>& fp4_code_book() {
  // bitsandbytes get_4bit_type("fp4"): e2m1 values in code order, divided by their absmax 12 in
  // float32 (data.div_(data.abs().max())). Code 8 is -0.0.
  static const std::array<float, 16> k = [] {
    const std::array<float, 16> raw = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f,
                                       -0.0f, -0.0625f, -8.0f, -12.0f, -4.0f, -6.0f, -2.0f, -3.0f};
    std::array<float, 16> out{};
    for (std::size_t i = 0; i < raw.size(); ++i) out[i] = raw[i] / 12.0f;
    return out;
  }();
  return k;
}

const std::array<float, 16>& code_book(FourBit t) {
  return t == FourBit::nf4 ? nf4_code_book() : fp4_code_book();
}

const std::array<float, 15>& nf4_thresholds() {
  // dQuantizeNF4's node constants, ascending (they are the code midpoints computed in float64).
  static const std::array<float, 15> k = {
      -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
      -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
      0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
      0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
  return k;
}

const std::array<float, 7>& fp4_magnitude_thresholds() {
  // dQuantizeFP4's node constants on |x|, ascending.
  static const std::array<float, 7> k = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                         0.4166667f,  0.583333f,  0.8333333f};
  return k;
}

std::uint8_t quantize_nf4_value(float x) {
  // The tree of dQuantizeNF4 visits thresholds in bisection order, each test `x > t`; for a
  // monotone set of thresholds that equals counting the thresholds strictly below x. NaN fails
  // every test and yields code 0, as the CUDA tree does.
  const auto& t = nf4_thresholds();
  std::uint8_t code = 0;
  for (float th : t) code += (x > th) ? 1 : 0;
  if (std::isnan(x)) return 0;
  return code;
}

std::uint8_t quantize_fp4_value(float x) {
  // dQuantizeFP4: sign bit 0b1000 when x < 0 (so -0.0 and NaN are positive), then a tree on |x|
  // whose leaves in ascending magnitude are the codes below.
  static const std::array<std::uint8_t, 8> by_magnitude = {0b0000, 0b0001, 0b0110, 0b0111,
                                                           0b0100, 0b0101, 0b0010, 0b0011};
  const std::uint8_t sign = x < 0 ? 0b1000 : 0b0000;
  const float a = std::fabs(x);
  if (std::isnan(a)) return sign;  // every `a > t` is false: leaf 0b0000
  int rank = 0;
  for (float th : fp4_magnitude_thresholds()) rank += (a > th) ? 1 : 0;
  return static_cast<std::uint8_t>(by_magnitude[static_cast<std::size_t>(rank)] + sign);
}

std::uint8_t quantize_4bit_value(FourBit t, float x) {
  return t == FourBit::nf4 ? quantize_nf4_value(x) : quantize_fp4_value(x);
}

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> k = [] {
    // create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), functional.py:
    // for i in 0..6: n = 2^i + 1 boundaries linspace(0.1, 1, n) (float32), means of neighbours
    // (float32), scaled by +-10^(i-6) (python float, applied as float32 by torch's mul), then
    // 0 and 1.0 appended and the 256 values sorted. No "additional items" for these arguments.
    constexpr int max_exponent_bits = 7;
    std::vector<float> data;
    for (int i = 0; i < max_exponent_bits; ++i) {
      const std::int64_t fraction_items = (std::int64_t{1} << i) + 1;
      at::Tensor b = at::linspace(0.1, 1.0, fraction_items, at::TensorOptions().dtype(at::kFloat));
      at::Tensor means = (b.slice(0, 0, fraction_items - 1) + b.slice(0, 1, fraction_items)) / 2.0;
      const double scale = std::pow(10.0, static_cast<double>(-(max_exponent_bits - 1) + i));
      at::Tensor pos = (means * scale).contiguous();
      at::Tensor neg = (means * (-scale)).contiguous();
      const float* p = pos.data_ptr<float>();
      const float* q = neg.data_ptr<float>();
      data.insert(data.end(), p, p + pos.numel());
      data.insert(data.end(), q, q + neg.numel());
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out{};
    if (data.size() != out.size()) throw std::logic_error("dynamic map: expected 256 values");
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return k;
}

std::uint8_t quantize_dynamic_value(const std::array<float, 256>& code, float x) {
  // dQuantize<0> (csrc/kernels.cu), not stochastic.
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[127];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[static_cast<std::size_t>(pivot)];
  }
  if (upper_pivot == 255) upper = code[255];
  if (lower_pivot == 0) lower = code[0];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return static_cast<std::uint8_t>(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return static_cast<std::uint8_t>(x < midpoint ? lower_pivot : pivot);
}

}  // namespace qrun::quant
