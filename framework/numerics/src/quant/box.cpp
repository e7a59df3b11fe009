// Quantization boxes, codes and flip counts (see qrun/quant/box.hpp for the construction).
#include <qrun/quant/box.hpp>

#include <qrun/quant/codebook.hpp>
#include <qrun/quant/int8.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace qrun::quant {

std::string_view to_string(BoxMethod m) {
  switch (m) {
    case BoxMethod::int8: return "int8";
    case BoxMethod::nf4: return "nf4";
    case BoxMethod::fp4: return "fp4";
  }
  return "?";
}

std::optional<BoxMethod> parse_box_method(std::string_view s) {
  if (s == "int8") return BoxMethod::int8;
  if (s == "nf4") return BoxMethod::nf4;
  if (s == "fp4") return BoxMethod::fp4;
  return std::nullopt;
}

std::string describe(const QuantizerSpec& q) {
  if (q.method == BoxMethod::int8) return "int8 (row-wise absmax / 127)";
  return std::string(to_string(q.method)) + " (blocksize " + std::to_string(q.blocksize) + ")";
}

namespace {

FourBit four_bit_of(BoxMethod m) { return m == BoxMethod::fp4 ? FourBit::fp4 : FourBit::nf4; }

Result<void> check_weight(const at::Tensor& w, const std::string& name) {
  if (!w.defined() || w.dim() != 2)
    return Error{name, "is not a 2-D weight [out, in] (got " + std::to_string(w.defined() ? w.dim() : 0) + " dims)",
                 "give a linear layer's weight"};
  return {};
}

// Codes plus the per-row/per-block absmax the quantizer used (float32).
struct Quantized {
  at::Tensor codes;   // as weight_codes
  at::Tensor absmax;  // int8: [rows]; 4-bit: [blocks]
};

Result<Quantized> quantize(const at::Tensor& w, const QuantizerSpec& q, const std::string& name) {
  QRUN_TRY(check_weight(w, name));
  if (q.method == BoxMethod::int8) {
    auto r = int8_quantize_weight(w, name);
    if (!r) return r.error();
    return Quantized{r->codes.to(at::kCPU), r->absmax.to(at::kCPU, at::kFloat)};
  }
  auto p = quantize_4bit(w, four_bit_of(q.method), q.blocksize, name);
  if (!p) return p.error();
  return Quantized{unpack_4bit(p->packed, p->numel()).to(at::kCPU).view(w.sizes()), p->absmax.to(at::kCPU, at::kFloat)};
}

// float32 <-> an integer in the same order (-0.0 and +0.0 share 0), so that "the next float" is +1.
std::int64_t ordinal(float f) {
  std::uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  const std::int64_t magnitude = u & 0x7fffffffu;
  return (u & 0x80000000u) ? -magnitude : magnitude;
}

float from_ordinal(std::int64_t o) {
  const std::uint32_t u = o >= 0 ? static_cast<std::uint32_t>(o) : (static_cast<std::uint32_t>(-o) | 0x80000000u);
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// The furthest float (as an ordinal) from `good` in direction `dir` (+1 up, -1 down), not beyond
// `end`, where `ok` holds; `ok` holds at `good` and, going in `dir`, once false stays false.
// `guess` is a first estimate of the answer: galloping from it, then bisection, so a guess a few
// ulps off costs a few evaluations.
template <class Ok>
std::int64_t furthest(std::int64_t good, std::int64_t end, std::int64_t guess, int dir, const Ok& ok) {
  const auto beyond = [dir](std::int64_t a, std::int64_t b) { return dir > 0 ? a > b : a < b; };
  if (beyond(guess, end)) guess = end;
  if (beyond(good, guess)) guess = good;
  std::int64_t bad = 0;
  if (ok(guess)) {
    good = guess;
    for (std::int64_t step = 1;; step *= 2) {
      if (good == end) return good;
      std::int64_t cand = good + dir * step;
      if (beyond(cand, end)) cand = end;
      if (!ok(cand)) {
        bad = cand;
        break;
      }
      good = cand;
    }
  } else {
    bad = guess;
    for (std::int64_t step = 1;; step *= 2) {
      const std::int64_t cand = bad - dir * step;
      if (!beyond(cand, good)) break;
      if (ok(cand)) {
        good = cand;
        break;
      }
      bad = cand;
    }
  }
  while ((bad - good) * dir > 1) {
    const std::int64_t mid = good + (bad - good) / 2;
    if (ok(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

// The 4-bit codes in ascending order of the value they dequantize to (-0.0 before +0.0 for FP4,
// as dQuantizeFP4 gives the sign bit to x < 0 only): key(code) is monotone in the input, and the
// guesses for the box ends are the midpoints of neighbouring code-book values.
struct FourBitOrder {
  std::array<float, 16> key_of_code{};  // rank 0..15
  std::array<float, 17> lower_mid{};    // lower_mid[k]: midpoint below rank k (rank 0: -inf)
};

FourBitOrder four_bit_order(FourBit type) {
  const auto& book = code_book(type);
  std::array<int, 16> codes{};
  std::iota(codes.begin(), codes.end(), 0);
  std::stable_sort(codes.begin(), codes.end(), [&](int a, int b) {
    const float va = book[static_cast<std::size_t>(a)], vb = book[static_cast<std::size_t>(b)];
    if (va != vb) return va < vb;
    return std::signbit(va) && !std::signbit(vb);
  });
  FourBitOrder o;
  for (std::size_t r = 0; r < 16; ++r) o.key_of_code[static_cast<std::size_t>(codes[r])] = static_cast<float>(r);
  o.lower_mid[0] = -std::numeric_limits<float>::infinity();
  for (std::size_t r = 1; r < 16; ++r)
    o.lower_mid[r] = 0.5f * (book[static_cast<std::size_t>(codes[r - 1])] + book[static_cast<std::size_t>(codes[r])]);
  o.lower_mid[16] = std::numeric_limits<float>::infinity();
  return o;
}

// LLM.int8 on one row: the same float32 maths as int8_vectorwise_quant (qrun/quant/int8.hpp).
struct Int8Rule {
  float a = 0;      // row absmax of the float16 values
  float scale = 0;  // 127.0f / a
  static float input(float y) { return static_cast<float>(c10::Half(y)); }  // Int8Params' float16 cast
  float key(float y) const {
    const float q = input(y) * scale;
    return std::isnan(q) ? 0.0f : std::nearbyint(q);  // round half to even; NaN (all-zero row) -> 0
  }
  float hi_guess(float k) const { return (k + 0.5f) * a / 127.0f; }
  float lo_guess(float k) const { return (k - 0.5f) * a / 127.0f; }
};

// bitsandbytes 4-bit on one block: code = dQuantize(y * (1.0f / absmax)) (blockwise4.hpp).
struct FourBitRule {
  float a = 0;
  float inv = 0;  // 1.0f / a
  FourBit type = FourBit::nf4;
  const FourBitOrder* order = nullptr;
  static float input(float y) { return y; }
  float key(float y) const { return order->key_of_code[quantize_4bit_value(type, y * inv)]; }
  float hi_guess(float k) const { return clamp_guess(order->lower_mid[static_cast<std::size_t>(k) + 1]); }
  float lo_guess(float k) const { return clamp_guess(order->lower_mid[static_cast<std::size_t>(k)]); }
  float clamp_guess(float m) const { return std::isinf(m) ? std::copysign(a, m) : m * a; }
};

// Boxes of one row/block of n elements (contiguous). Returns -1, or (a bug) the first element whose
// scalar key disagrees with the quantizer's code, or 0 when no element equals the reported absmax.
template <class Rule>
std::int64_t box_group(const Rule& rule, const float* w, const float* code_keys, std::int64_t n, float* lo, float* hi,
                       bool* held) {
  const std::int64_t top = ordinal(std::numeric_limits<float>::max());
  const float a_in = rule.a;
  bool frozen = false;
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = w[i];
    const float k = rule.key(x);
    if (k != code_keys[i]) return i;
    const std::int64_t o = ordinal(x);
    const float x_in = Rule::input(x);
    if (!frozen && std::fabs(x_in) == a_in) {
      // The absmax element stays the absmax: only values with the same quantizer input.
      frozen = held[i] = true;
      const auto up = [&](std::int64_t c) { return Rule::input(from_ordinal(c)) <= x_in; };
      const auto down = [&](std::int64_t c) { return Rule::input(from_ordinal(c)) >= x_in; };
      hi[i] = from_ordinal(furthest(o, top, o, +1, up));
      lo[i] = from_ordinal(furthest(o, -top, o, -1, down));
      continue;
    }
    held[i] = false;
    // Same code and |input| <= absmax (the block's/row's scale unchanged).
    const auto up = [&](std::int64_t c) {
      const float y = from_ordinal(c);
      return Rule::input(y) <= a_in && rule.key(y) <= k;
    };
    const auto down = [&](std::int64_t c) {
      const float y = from_ordinal(c);
      return Rule::input(y) >= -a_in && rule.key(y) >= k;
    };
    hi[i] = from_ordinal(furthest(o, top, ordinal(rule.hi_guess(k)), +1, up));
    lo[i] = from_ordinal(furthest(o, -top, ordinal(rule.lo_guess(k)), -1, down));
  }
  if (!frozen) return 0;  // no element reached the absmax the quantizer reported
  return -1;
}

}  // namespace

Result<at::Tensor> weight_codes(const at::Tensor& w, const QuantizerSpec& q, const std::string& name) {
  auto r = quantize(w, q, name);
  if (!r) return r.error();
  return r->codes;
}

Result<std::optional<LayerCodes>> layer_codes(const LinearImpl& layer, const std::string& name) {
  const std::string kind = layer.kind();
  if (kind == "dense") return std::optional<LayerCodes>();
  const NamedTensors state = layer.state();
  const auto get = [&](const std::string& suffix) -> at::Tensor {
    for (const auto& [k, t] : state)
      if (k == suffix) return t;
    return {};
  };
  const at::Tensor weight = get("weight");
  const std::int64_t out = layer.out_features(), in = layer.in_features();
  if (kind == "int8") {
    if (!weight.defined() || weight.scalar_type() != at::kChar || weight.numel() != out * in)
      return Error{name + ".weight", "is not the int8 [" + std::to_string(out) + ", " + std::to_string(in) + "] CB of an int8 layer",
                   "report this as a bug in the layer's state()", ErrorCode::internal};
    return std::optional<LayerCodes>(LayerCodes{{BoxMethod::int8, kDefaultBlocksize4bit}, weight.to(at::kCPU).view({out, in})});
  }
  const auto method = parse_box_method(kind);
  if (!method) return Error{name, "has a linear layer of kind '" + kind + "', which has no quantization box",
                            "use int8, nf4 or fp4 layers (or dense ones with the metric's quantizer)", ErrorCode::unsupported};
  const at::Tensor blob = get("weight.quant_state.bitsandbytes__" + kind);
  if (!weight.defined() || !blob.defined() || blob.scalar_type() != at::kByte)
    return Error{name, "is a " + kind + " layer without packed weight and quant_state", "report this as a bug in the layer's state()",
                 ErrorCode::internal};
  const at::Tensor bytes = blob.to(at::kCPU).contiguous();
  const auto* p = bytes.data_ptr<std::uint8_t>();
  const nlohmann::json qs = nlohmann::json::parse(p, p + bytes.numel(), nullptr, false);
  if (qs.is_discarded() || !qs.contains("blocksize") || !qs["blocksize"].is_number_integer())
    return Error{name + ".weight.quant_state.bitsandbytes__" + kind, "is not a JSON object with an integer blocksize",
                 "report this as a bug in the layer's state()", ErrorCode::internal};
  const QuantizerSpec spec{*method, qs["blocksize"].get<std::int64_t>()};
  at::Tensor codes = unpack_4bit(weight.to(at::kCPU), out * in).view({out, in});
  return std::optional<LayerCodes>(LayerCodes{spec, codes});
}

Result<Boxes> quantization_boxes(const at::Tensor& w, const QuantizerSpec& q, const std::string& name) {
  auto quantized = quantize(w, q, name);
  if (!quantized) return quantized.error();
  const at::Tensor x = w.to(at::kCPU, at::kFloat).contiguous();
  const std::int64_t n = x.numel(), rows = x.size(0), cols = x.size(1);
  const std::int64_t group = q.method == BoxMethod::int8 ? cols : q.blocksize;
  const std::int64_t groups = (n + group - 1) / group;
  const at::Tensor absmax = quantized->absmax.contiguous();
  if (absmax.numel() != groups) return Error{name, "absmax has an unexpected size", "report this as a bug",
                                             ErrorCode::internal};

  // The code of each element as a monotone key (int8: the code itself; 4-bit: its rank).
  const FourBitOrder order = four_bit_order(four_bit_of(q.method));
  at::Tensor keys;
  if (q.method == BoxMethod::int8) {
    keys = quantized->codes.to(at::kFloat).reshape({-1}).contiguous();
  } else {
    const at::Tensor table = at::from_blob(const_cast<float*>(order.key_of_code.data()), {16}, at::TensorOptions().dtype(at::kFloat));
    keys = table.index_select(0, quantized->codes.reshape({-1}).to(at::kLong)).contiguous();
  }

  Boxes b;
  b.lo = at::empty({rows, cols}, x.options());
  b.hi = at::empty({rows, cols}, x.options());
  b.held = at::zeros({rows, cols}, x.options().dtype(at::kBool));
  b.absmax = absmax.repeat_interleave(group).slice(0, 0, n).view({rows, cols}).contiguous();
  b.codes = quantized->codes;

  const float* xp = x.data_ptr<float>();
  const float* kp = keys.data_ptr<float>();
  const float* ap = absmax.data_ptr<float>();
  float* lp = b.lo.data_ptr<float>();
  float* hp = b.hi.data_ptr<float>();
  bool* held = b.held.data_ptr<bool>();
  std::atomic<std::int64_t> bad{-1};
  at::parallel_for(0, groups, 16, [&](std::int64_t g0, std::int64_t g1) {
    for (std::int64_t g = g0; g < g1; ++g) {
      const std::int64_t start = g * group, len = std::min(group, n - start);
      const float a = ap[g];
      std::int64_t e = -1;
      if (q.method == BoxMethod::int8) {
        const Int8Rule rule{a, 127.0f / a};  // int8_vectorwise_quant's scale
        e = box_group(rule, xp + start, kp + start, len, lp + start, hp + start, held + start);
      } else {
        const FourBitRule rule{a, 1.0f / a, four_bit_of(q.method), &order};  // kQuantizeBlockwise's reciprocal
        e = box_group(rule, xp + start, kp + start, len, lp + start, hp + start, held + start);
      }
      if (e >= 0) {
        std::int64_t expected = -1;
        bad.compare_exchange_strong(expected, start + e);
      }
    }
  });
  if (bad.load() >= 0)
    return Error{name, "box: the scalar rounding disagrees with the quantizer (code or absmax) at flat index " + std::to_string(bad.load()),
                 "report this as a bug (qrun/quant/box.hpp must follow the quantizer's maths)"};
  return b;
}

Result<FlipCount> count_flips(const at::Tensor& codes_a, const at::Tensor& codes_b, const std::string& name) {
  if (!codes_a.defined() || !codes_b.defined() || !codes_a.sizes().equals(codes_b.sizes()))
    return Error{name, "the two code tensors differ in shape", "compare codes of the same layer"};
  if (codes_a.scalar_type() != codes_b.scalar_type())
    return Error{name, "the two code tensors differ in dtype (different quantizers)", "quantize both the same way"};
  FlipCount f;
  f.n = codes_a.numel();
  f.flipped = at::ne(codes_a.to(at::kCPU), codes_b.to(at::kCPU)).sum().item<std::int64_t>();
  return f;
}

Result<FlipCount> flip_count(const at::Tensor& w_a, const at::Tensor& w_b, const QuantizerSpec& q,
                             const std::string& name) {
  auto a = weight_codes(w_a, q, name);
  if (!a) return a.error();
  auto b = weight_codes(w_b, q, name);
  if (!b) return b.error();
  return count_flips(*a, *b, name);
}

}  // namespace qrun::quant
