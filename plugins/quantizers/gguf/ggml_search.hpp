// The scale searches of ggml's k-quants and imatrix paths (src/ggml-quants.c, commit d99724f2),
// reimplemented from the published algorithms with the same float32 operation order, so that they
// pick the same codes. Each returns the group's scale and writes the group's codes L.
#pragma once

#include <cstdint>

namespace qrun::gguf::detail {

// Smallest amax treated as a non-zero group (GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// make_qx_quants: symmetric codes L in [0, 2 nmax) (value = scale * (L - nmax)), scale fitted by
// weighted least squares over 19 trial inverse scales -(nmax + 0.1 is) / max, is = -9..9.
// rmse_type: 0 = plain rounding, 1 = weights x^2 (or qw), 2 = 1, 3 = |x|, other = sqrt|x|;
// negative = one least-squares step, returned averaged with the plain scale.
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L, int rmse_type, const float* qw);

// make_q3_quants: as make_qx_quants(rmse_type 1) but, with do_rmse, refines codes one at a time
// (up to 5 sweeps) while the weighted fit improves. Codes L in [0, 2 nmax).
float make_q3_quants(int n, int nmax, const float* x, std::int8_t* L, bool do_rmse);

// make_qkx2_quants (weights given) / make_qkx3_quants (weights null: x^2): asymmetric codes
// L in [0, nmax] with value = scale * L - the_min; tries inverse scales (rmin + rdelta is + nmax) /
// (max - min), is = 0..nstep, fitting scale and min by weighted least squares, keeping the one with
// the smallest weighted error (|diff| with use_mad, diff^2 otherwise).
float make_qkx_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                      std::uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

// make_qp_quants: non-negative codes L in [0, nmax] for non-negative values x (scales, mins of a
// super-block), 9 trial scales then up to 5 sweeps of single-code refinement, weighted by qw.
float make_qp_quants(int n, int nmax, const float* x, std::uint8_t* L, const float* qw);

}  // namespace qrun::gguf::detail
