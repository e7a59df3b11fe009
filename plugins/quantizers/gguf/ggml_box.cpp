// Quantization boxes for ggml's types (see ggml_box.hpp): exact boxes by bisection with the
// extremes frozen, certified boxes by emulation and re-quantization (Mind the Gap's procedure).
#include "ggml_box.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

namespace qrun::gguf {
namespace {

// float32 <-> an unsigned key ordered as the floats are (-0.0 just below +0.0).
std::uint32_t key_of(float v) {
  const auto u = std::bit_cast<std::uint32_t>(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
float float_of(std::uint32_t k) {
  const std::uint32_t u = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  return std::bit_cast<float>(u);
}

// Scratch bytes for quantize_rows (its destination must be 2-byte aligned).
struct Bytes {
  std::vector<std::uint16_t> words;
  std::size_t n = 0;
  explicit Bytes(std::size_t bytes) : words((bytes + 1) / 2), n(bytes) {}
  std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(words.data()); }
  const std::uint8_t* data() const { return reinterpret_cast<const std::uint8_t*>(words.data()); }
};

// ---- exact boxes ----------------------------------------------------------------------------

// One block of an exact type: its values (modified in place during the searches) and its bytes.
struct ExactBlock {
  GgmlType type;
  int n;
  std::vector<float> v;
  Bytes ref, tmp;
  ExactBlock(GgmlType t, int size) : type(t), n(size), v(size), ref(traits(t).type_size), tmp(traits(t).type_size) {}
  bool same() {
    quantize_rows(type, v.data(), tmp.data(), 1, n, nullptr);
    return std::memcmp(tmp.data(), ref.data(), ref.n) == 0;
  }
};

// The largest float32 in [v_j, cap] (smallest in [cap, v_j] when down) keeping the block's bytes,
// by bisection on the ordered keys: the set that keeps them is an interval around v_j, as each
// code is a monotone function of its own value while the scale's inputs stay fixed.
float exact_edge(ExactBlock& b, int j, float cap, bool up) {
  const float x = b.v[j];
  std::uint32_t good = key_of(x), bad = key_of(cap);
  b.v[j] = cap;
  const bool cap_ok = b.same();
  b.v[j] = x;
  if (cap_ok) return cap;
  while ((up ? bad - good : good - bad) > 1) {
    const std::uint32_t mid = up ? good + (bad - good) / 2 : good - (good - bad) / 2;
    b.v[j] = float_of(mid);
    if (b.same()) good = mid;
    else bad = mid;
  }
  b.v[j] = x;
  return float_of(good);
}

void exact_block(ExactBlock& b, const float* x, float* lo, float* hi, std::uint8_t* held, BoxStats& st) {
  std::copy(x, x + b.n, b.v.begin());
  quantize_rows(b.type, x, b.ref.data(), 1, b.n, nullptr);
  // The frozen extremes: the first element of largest magnitude (as block_signed_absmax and the
  // amax loops see it), or the first minimum and first maximum (block_min_max's strict tests).
  int first_abs = 0, first_min = 0, first_max = 0;
  for (int j = 1; j < b.n; ++j) {
    if (std::fabs(x[j]) > std::fabs(x[first_abs])) first_abs = j;
    if (x[j] < x[first_min]) first_min = j;
    if (x[j] > x[first_max]) first_max = j;
  }
  const bool asym = is_asymmetric(b.type);
  const float cap_lo = asym ? x[first_min] : -std::fabs(x[first_abs]);
  const float cap_hi = asym ? x[first_max] : std::fabs(x[first_abs]);
  for (int j = 0; j < b.n; ++j) {
    const bool frozen = asym ? (j == first_min || j == first_max) : j == first_abs;
    held[j] = frozen ? 1 : 0;
    if (frozen) {
      lo[j] = hi[j] = x[j];
      ++st.held;
      continue;
    }
    lo[j] = exact_edge(b, j, cap_lo, false);
    hi[j] = exact_edge(b, j, cap_hi, true);
  }
}

// ---- certified boxes ------------------------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
float uniform01(std::uint64_t& s) { return static_cast<float>(splitmix64(s) >> 40) * 0x1.0p-24f; }

// One row being certified: its values, boxes, and the reference bytes and dequantized values.
struct CertRow {
  GgmlType type;
  std::int64_t cols;
  const float* x;
  const float* imatrix;
  float* lo;
  float* hi;
  std::uint8_t* held;
  std::size_t block_bytes;
  std::int64_t block_values;
  Bytes ref, tmp;
  std::vector<float> deq, y, block_deq;
  std::vector<std::uint8_t> halvings;  // per weight: how often its box was halved
  CertRow(GgmlType t, std::int64_t c, const float* x_, const float* im, float* lo_, float* hi_, std::uint8_t* h)
      : type(t), cols(c), x(x_), imatrix(im), lo(lo_), hi(hi_), held(h), block_bytes(traits(t).type_size),
        block_values(traits(t).block_size), ref(row_size(t, c)), tmp(row_size(t, c)), deq(c), y(c), block_deq(traits(t).block_size), halvings(c, 0) {}

  void freeze(std::int64_t i) {
    held[i] = 1;
    lo[i] = hi[i] = x[i];
  }
  float far_end(std::int64_t i) const { return lo[i] == x[i] ? hi[i] : lo[i]; }
};

// Step 1 and 2: intervals from the weight to its dequantized value, the extremes frozen.
void emulate_row(CertRow& r) {
  quantize_rows(r.type, r.x, r.ref.data(), 1, r.cols, r.imatrix);
  dequantize_values(r.type, r.ref.data(), r.deq.data(), r.cols);
  for (std::int64_t i = 0; i < r.cols; ++i) {
    r.lo[i] = std::min(r.x[i], r.deq[i]);
    r.hi[i] = std::max(r.x[i], r.deq[i]);
    r.held[i] = 0;
  }
  const int sub = sub_block_size(r.type);
  const std::int64_t super = r.block_values;
  const bool asym = is_asymmetric(r.type);
  for (std::int64_t s0 = 0; s0 < r.cols; s0 += super) {
    std::int64_t widest = -1, lowest = -1;  // sub-blocks setting the super-block scales
    float widest_v = -1, lowest_v = 0;
    for (std::int64_t b0 = s0; b0 < s0 + super; b0 += sub) {
      std::int64_t imin = b0, imax = b0, iabs = b0;
      for (std::int64_t i = b0 + 1; i < b0 + sub; ++i) {
        if (r.x[i] < r.x[imin]) imin = i;
        if (r.x[i] > r.x[imax]) imax = i;
        if (std::fabs(r.x[i]) > std::fabs(r.x[iabs])) iabs = i;
      }
      r.freeze(imin);
      r.freeze(imax);
      const float range = asym ? r.x[imax] - std::min(r.x[imin], 0.0f) : std::fabs(r.x[iabs]);
      if (range > widest_v) widest_v = range, widest = b0;
      if (asym && std::min(r.x[imin], 0.0f) < lowest_v) lowest_v = r.x[imin], lowest = b0;
    }
    if (super == sub) continue;  // one scale per block, no super-block scale to protect
    for (std::int64_t b0 : {widest, lowest})
      if (b0 >= 0)
        for (std::int64_t i = b0; i < b0 + sub; ++i) r.freeze(i);
  }
}

// A draw inside the boxes (each box runs from the weight to its far end). Modes 0-4 are the
// corners a scale or a min reacts to most (a least-squares scale grows with every |y|, a min with
// every y): 0 every weight at its far end, 1 only the moves up, 2 only the moves down, 3 only the
// moves away from zero, 4 only those toward zero; 5 random corners; 6 uniform inside.
void draw_row(CertRow& r, int mode, std::uint64_t& rng) {
  for (std::int64_t i = 0; i < r.cols; ++i) {
    const float x = r.x[i];
    if (r.lo[i] == r.hi[i]) {
      r.y[i] = x;
      continue;
    }
    const float far = r.far_end(i);
    switch (mode) {
      case 0: r.y[i] = far; break;
      case 1: r.y[i] = far > x ? far : x; break;
      case 2: r.y[i] = far < x ? far : x; break;
      case 3: r.y[i] = std::fabs(far) > std::fabs(x) ? far : x; break;
      case 4: r.y[i] = std::fabs(far) < std::fabs(x) ? far : x; break;
      case 5: r.y[i] = (splitmix64(rng) & 1u) ? r.hi[i] : r.lo[i]; break;
      default: r.y[i] = std::clamp(r.lo[i] + uniform01(rng) * (r.hi[i] - r.lo[i]), r.lo[i], r.hi[i]);
    }
  }
}

// Halves the box of weight i toward the weight (freezing it after `max_halvings`).
void halve(CertRow& r, std::int64_t i, int max_halvings) {
  if (r.held[i] || r.lo[i] == r.hi[i]) return;
  if (++r.halvings[i] > max_halvings) return r.freeze(i);
  const float far = r.far_end(i);
  (far > r.x[i] ? r.hi[i] : r.lo[i]) = r.x[i] + (far - r.x[i]) * 0.5f;
}

// Shrinks the boxes of block [b0, b0 + n) after a failed draw: the weights whose dequantized value
// changed (a changed sub-block scale changes all of its values) are halved, else every free weight
// of the block; a block failing too often is frozen whole. Returns whether anything shrank.
bool shrink_block(CertRow& r, std::int64_t b0, std::int64_t n, int failures, const BoxOptions& opt, BoxStats& st) {
  bool any = false;
  if (failures > opt.max_block_failures) {
    for (std::int64_t i = b0; i < b0 + n; ++i)
      if (!r.held[i]) r.freeze(i), any = true;
    if (any) ++st.frozen_blocks;
    return any;
  }
  for (std::int64_t i = b0; i < b0 + n; ++i)
    if (!r.held[i] && r.lo[i] != r.hi[i] &&
        std::bit_cast<std::uint32_t>(r.block_deq[i - b0]) != std::bit_cast<std::uint32_t>(r.deq[i]))
      halve(r, i, opt.max_halvings), any = true;
  if (any) return true;
  for (std::int64_t i = b0; i < b0 + n; ++i)
    if (!r.held[i] && r.lo[i] != r.hi[i]) halve(r, i, opt.max_halvings), any = true;
  return any;
}

void certify_row(CertRow& r, const BoxOptions& opt, std::uint64_t seed, BoxStats& st) {
  const std::int64_t nblocks = r.cols / r.block_values;
  std::vector<int> failures(static_cast<std::size_t>(nblocks), 0);
  std::uint64_t rng = seed;
  const std::int64_t max_draws = static_cast<std::int64_t>(opt.clean_draws) * 200;
  int clean = 0;
  for (std::int64_t draw = 0; clean < opt.clean_draws; ++draw) {
    if (draw >= max_draws) {  // did not settle: freeze the row
      for (std::int64_t i = 0; i < r.cols; ++i) r.freeze(i);
      break;
    }
    // Every streak of clean draws starts with the five structured corners.
    draw_row(r, clean < 5 ? clean : static_cast<int>(5 + draw % 2), rng);
    quantize_rows(r.type, r.y.data(), r.tmp.data(), 1, r.cols, r.imatrix);
    ++st.draws;
    bool changed = false, shrank = false;
    for (std::int64_t b = 0; b < nblocks; ++b) {
      const std::size_t off = static_cast<std::size_t>(b) * r.block_bytes;
      if (std::memcmp(r.tmp.data() + off, r.ref.data() + off, r.block_bytes) == 0) continue;
      changed = true;
      dequantize_values(r.type, r.tmp.data() + off, r.block_deq.data(), r.block_values);
      shrank |= shrink_block(r, b * r.block_values, r.block_values, ++failures[static_cast<std::size_t>(b)], opt, st);
    }
    if (!changed) {
      ++clean;
      continue;
    }
    ++st.failed_draws;
    clean = 0;
    if (!shrank)  // the changed blocks are frozen already: the cause is row-wide (an imatrix path's sigma^2)
      for (std::int64_t i = 0; i < r.cols; ++i) halve(r, i, opt.max_halvings);
  }
}

}  // namespace

BoxKind box_kind(GgmlType type, bool imatrix) {
  switch (type) {
    case GgmlType::q8_0:
    case GgmlType::mxfp4: return BoxKind::exact;
    case GgmlType::q4_0:
    case GgmlType::q4_1:
    case GgmlType::q5_0:
    case GgmlType::q5_1: return imatrix ? BoxKind::certified : BoxKind::exact;
    default: return BoxKind::certified;
  }
}

const char* to_string(BoxKind k) { return k == BoxKind::exact ? "exact" : "certified"; }

int sub_block_size(GgmlType type) {
  switch (type) {
    case GgmlType::q2_K:
    case GgmlType::q3_K:
    case GgmlType::q6_K: return 16;
    default: return 32;
  }
}

bool is_asymmetric(GgmlType type) {
  return type == GgmlType::q4_1 || type == GgmlType::q5_1 || type == GgmlType::q2_K || type == GgmlType::q4_K ||
         type == GgmlType::q5_K;
}

float next_up(float v) { return std::nextafter(v, INFINITY); }
float next_down(float v) { return std::nextafter(v, -INFINITY); }

BoxStats quantization_boxes(GgmlType type, const float* x, std::int64_t rows, std::int64_t cols, const float* imatrix,
                            float* lo, float* hi, std::uint8_t* held, const BoxOptions& options) {
  BoxStats st;
  st.weights = rows * cols;
  if (box_kind(type, imatrix != nullptr) == BoxKind::exact) {
    const int n = static_cast<int>(traits(type).block_size);
    ExactBlock b(type, n);
    for (std::int64_t i = 0; i < rows * cols; i += n) exact_block(b, x + i, lo + i, hi + i, held + i, st);
    return st;
  }
  // The unit certified at once: a row where the search weights by a row-wide sigma^2 (the legacy
  // types' imatrix paths), else one ggml block, which ggml quantizes from its own values alone.
  const bool row_wide = type == GgmlType::q4_0 || type == GgmlType::q4_1 || type == GgmlType::q5_0 || type == GgmlType::q5_1;
  const std::int64_t unit = row_wide ? cols : traits(type).block_size;
  std::uint64_t seed = options.seed;
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t c0 = 0; c0 < cols; c0 += unit) {
      const std::int64_t o = row * cols + c0;
      CertRow r(type, unit, x + o, imatrix ? imatrix + c0 : nullptr, lo + o, hi + o, held + o);
      emulate_row(r);
      certify_row(r, options, splitmix64(seed), st);
      // The margin: the certified boxes scaled toward the weights, certified again.
      if (options.margin >= 1.0f) continue;
      for (std::int64_t i = 0; i < unit; ++i)
        if (!r.held[i] && r.lo[i] != r.hi[i]) {
          const float far = r.far_end(i);
          (far > r.x[i] ? r.hi[i] : r.lo[i]) = r.x[i] + (far - r.x[i]) * options.margin;
        }
      certify_row(r, options, splitmix64(seed), st);
    }
  for (std::int64_t i = 0; i < rows * cols; ++i) st.held += held[i];
  return st;
}

}  // namespace qrun::gguf
