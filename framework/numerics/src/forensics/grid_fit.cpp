// Fitting units of values to a scaled code book under storage rounding (qrun/forensics/grid_fit.hpp).
#include <qrun/forensics/grid_fit.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace qrun::forensics {
namespace {

// Significant bits (implicit bit included) and the exponent of the smallest subnormal spacing.
struct FloatFormat {
  int precision;
  int min_ulp_exponent;
};

FloatFormat format_of(DType d) {
  switch (d) {
    case DType::f32: return {24, -149};
    case DType::f16: return {11, -24};
    case DType::bf16: return {8, -133};
    default: throw std::invalid_argument("half_ulp: " + std::string(to_string(d)) + " is not a float format");
  }
}

constexpr double kFloat16Max = 65504.0;  // largest finite float16

}  // namespace

DType effective_dtype(const at::Tensor& w) {
  if (w.scalar_type() == at::kBFloat16) return DType::bf16;
  if (w.scalar_type() == at::kHalf) return DType::f16;
  const at::Tensor f = w.to(at::kFloat);
  if (f.numel() == 0) return DType::f32;
  if (at::equal(f.to(at::kBFloat16).to(at::kFloat), f)) return DType::bf16;
  if (f.abs().max().item<double>() <= kFloat16Max && at::equal(f.to(at::kHalf).to(at::kFloat), f)) return DType::f16;
  return DType::f32;
}

at::Tensor half_ulp(const at::Tensor& v, DType d) {
  const FloatFormat f = format_of(d);
  const at::Tensor mag = v.to(at::kDouble).abs();
  // |v| = m * 2^e with m in [0.5, 1): the binade [2^(e-1), 2^e) has ulp 2^(e - precision).
  const at::Tensor e = std::get<1>(at::frexp(mag)).to(at::kDouble);
  at::Tensor ulp_exp = (e - f.precision).clamp_min(f.min_ulp_exponent);
  ulp_exp = at::where(mag.eq(0), at::full_like(ulp_exp, f.min_ulp_exponent), ulp_exp);
  return at::exp2(ulp_exp) * 0.5;
}

void FitCounts::add(const FitCounts& o) {
  units += o.units;
  degenerate_units += o.degenerate_units;
  fitting_units += o.fitting_units;
  elements += o.elements;
  fitting_elements += o.fitting_elements;
  distinct_sum += o.distinct_sum;
  distinct_max = std::max(distinct_max, o.distinct_max);
}

double FitCounts::unit_rate() const {
  return units > 0 ? static_cast<double>(fitting_units) / static_cast<double>(units) : 0.0;
}

double FitCounts::element_rate() const {
  return elements > 0 ? static_cast<double>(fitting_elements) / static_cast<double>(elements) : 0.0;
}

double FitCounts::mean_distinct() const { return units > 0 ? distinct_sum / static_cast<double>(units) : 0.0; }

std::vector<double> normalised_code_book(const std::vector<double>& codes) {
  std::vector<double> out = codes;
  for (double& c : out) c = c == 0.0 ? 0.0 : c;  // -0.0 and 0.0 are one value
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  double max_abs = 0;
  for (double c : out) max_abs = std::max(max_abs, std::abs(c));
  if (max_abs > 0)
    for (double& c : out) c /= max_abs;
  return out;
}

FitCounts fit_code_book(const at::Tensor& units, const std::vector<double>& codes, DType rounding,
                        bool count_distinct) {
  FitCounts out;
  if (units.numel() == 0 || codes.size() < 2) return out;
  const std::int64_t n = units.size(0), len = units.size(1);
  const at::Tensor x = units.to(at::kDouble).contiguous();  // exact: every float32/16 value is a double
  const at::Tensor a = x.abs().amax({1}, /*keepdim=*/true);  // the scale: the absmax element has code +-1
  const at::Tensor live = a.gt(0);                          // [n, 1]; all-zero units are degenerate
  const at::Tensor a1 = at::where(live, a, at::ones_like(a));
  const at::Tensor book = at::tensor(codes, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor mids = (book.slice(0, 1) + book.slice(0, 0, -1)) * 0.5;
  // Nearest code of x / a (midpoints between neighbours decide), then q = c * a (float64: exact product).
  const at::Tensor c = at::take(book, at::searchsorted(mids, (x / a1).contiguous()));
  const at::Tensor q = c * a1;
  const at::Tensor mag = at::maximum(x.abs(), q.abs());
  // Tolerance of grid_fit.hpp: element rounding + scale rounding * |c| + 8 float32 ulps.
  const at::Tensor tol = half_ulp(mag, rounding) + c.abs() * half_ulp(a1, rounding) + half_ulp(mag, DType::f32) * 16.0;
  const at::Tensor fit = (x - q).abs().le(tol).logical_and(live);  // [n, len]
  const at::Tensor live_rows = live.squeeze(1);
  out.units = live_rows.sum().item<std::int64_t>();
  out.degenerate_units = n - out.units;
  out.fitting_units = fit.all(1).logical_and(live_rows).sum().item<std::int64_t>();
  out.elements = out.units * len;
  out.fitting_elements = fit.sum().item<std::int64_t>();
  if (count_distinct && out.units > 0) {
    const at::Tensor sorted = std::get<0>(x.sort(1));
    at::Tensor distinct = at::ones({n}, at::TensorOptions().dtype(at::kLong));
    if (len > 1) distinct = distinct + sorted.slice(1, 1).ne(sorted.slice(1, 0, len - 1)).sum(1);
    distinct = distinct.masked_select(live_rows);
    out.distinct_sum = distinct.sum().item<double>();
    out.distinct_max = distinct.max().item<std::int64_t>();
  }
  return out;
}

}  // namespace qrun::forensics
