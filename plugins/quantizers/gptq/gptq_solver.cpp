// GPTQ's layer solver: see gptq_solver.hpp for the reference and the quirks kept.
#include "gptq_solver.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace qrun::gptq {

void find_params(const at::Tensor& x, int bits, bool sym, at::Tensor& scale, at::Tensor& zero) {
  // quant.py Quantizer.find_params (perchannel, weight=True, mse=False)
  const double maxq = std::pow(2.0, bits) - 1;
  const at::Tensor tmp = at::zeros({x.size(0)}, x.options());
  at::Tensor xmin = at::minimum(std::get<0>(x.min(1)), tmp);
  at::Tensor xmax = at::maximum(std::get<0>(x.max(1)), tmp);
  if (sym) {
    xmax = at::maximum(xmin.abs(), xmax);
    xmin = at::where(xmin < 0, -xmax, xmin);
  }
  const at::Tensor both = (xmin == 0) & (xmax == 0);
  xmin = xmin.masked_fill(both, -1);
  xmax = xmax.masked_fill(both, 1);
  scale = (xmax - xmin) / maxq;
  zero = sym ? at::full_like(scale, (maxq + 1) / 2) : at::round(-xmin / scale);
}

void Hessian::add(const at::Tensor& x) {
  const std::int64_t b = x.dim() >= 3 ? x.size(0) : 1;
  const auto dt = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor x2 = x.reshape({-1, x.size(-1)}).to(dt);
  if (!H.defined()) H = at::zeros({x2.size(1), x2.size(1)}, x2.options());
  H.mul_(static_cast<double>(n) / static_cast<double>(n + b));
  n += b;
  const at::Tensor xs = x2 * std::sqrt(2.0 / static_cast<double>(n));
  H.addmm_(xs.t(), xs);
}

namespace {

struct Group { at::Tensor scale, zero; };  // [rows] each

// quant.py quantize: clamp(round(x / scale) + zero, 0, maxq), as codes.
at::Tensor codes_of(const at::Tensor& w, const Group& g, double maxq) {
  return at::clamp(at::round(w / g.scale) + g.zero, 0, maxq);
}

}  // namespace

SolverResult solve(const at::Tensor& W_in, const at::Tensor& H_in, const SolverParams& p) {
  const double maxq = std::pow(2.0, p.bits) - 1;
  const std::int64_t rows = W_in.size(0), cols = W_in.size(1);
  const std::int64_t gs = p.group_size;
  at::Tensor W = W_in.clone(), H = H_in.clone();

  Group whole;  // `if not self.quantizer.ready(): find_params(W)`: before dead columns are zeroed
  find_params(W, p.bits, p.sym, whole.scale, whole.zero);

  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1);
  W.masked_fill_(dead.unsqueeze(0), 0);

  std::vector<Group> groups;  // static groups (original order), else filled as groups start
  if (gs != -1 && p.static_groups) {
    for (std::int64_t i = 0; i < cols; i += gs) {
      Group g;
      find_params(W.slice(1, i, std::min(i + gs, cols)), p.bits, p.sym, g.scale, g.zero);
      groups.push_back(g);
    }
  }

  at::Tensor perm, invperm;
  std::vector<std::int64_t> perm_host(static_cast<std::size_t>(cols));
  for (std::int64_t i = 0; i < cols; ++i) perm_host[i] = i;
  if (p.act_order) {
    // argsort(diag(H), descending=True); a stable sort so that equal diagonals keep column order
    perm = std::get<1>(at::sort(H.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true));
    W = W.index_select(1, perm);
    H = H.index_select(0, perm).index_select(1, perm);
    invperm = at::argsort(perm);
    const at::Tensor ph = perm.to(at::kCPU).contiguous();
    for (std::int64_t i = 0; i < cols; ++i) perm_host[i] = ph.data_ptr<std::int64_t>()[i];
  }

  const at::Tensor damp = p.percdamp * H.diagonal().mean();
  H.diagonal().add_(damp);
  at::Tensor Hinv = at::linalg_cholesky(H);
  Hinv = at::cholesky_inverse(Hinv);
  Hinv = at::linalg_cholesky(Hinv, /*upper=*/true);

  at::Tensor Q = at::zeros_like(W), C = at::zeros_like(W);
  at::Tensor losses = at::zeros({}, W.options());
  Group current = whole;
  for (std::int64_t i1 = 0; i1 < cols; i1 += p.blocksize) {
    const std::int64_t i2 = std::min(i1 + p.blocksize, cols), count = i2 - i1;
    at::Tensor W1 = W.slice(1, i1, i2).clone();
    at::Tensor Err1 = at::zeros_like(W1);
    const at::Tensor Hinv1 = Hinv.slice(0, i1, i2).slice(1, i1, i2);
    for (std::int64_t i = 0; i < count; ++i) {
      const at::Tensor w = W1.select(1, i);
      const at::Tensor d = Hinv1[i][i];
      if (gs != -1) {
        if (!p.static_groups) {
          if ((i1 + i) % gs == 0) {
            find_params(W.slice(1, i1 + i, std::min(i1 + i + gs, cols)), p.bits, p.sym, current.scale, current.zero);
            groups.push_back(current);
          }
        } else {
          current = groups[static_cast<std::size_t>(perm_host[i1 + i] / gs)];
        }
      }
      const at::Tensor code = codes_of(w, current, maxq);
      const at::Tensor q = current.scale * (code - current.zero);
      C.select(1, i1 + i).copy_(code);
      Q.select(1, i1 + i).copy_(q);
      losses += (w - q).square().div(d.square()).sum() / 2;
      const at::Tensor err1 = (w - q) / d;
      W1.slice(1, i).sub_(err1.unsqueeze(1).matmul(Hinv1.select(0, i).slice(0, i).unsqueeze(0)));
      Err1.select(1, i).copy_(err1);
    }
    if (i2 < cols) W.slice(1, i2).sub_(Err1.matmul(Hinv.slice(0, i1, i2).slice(1, i2)));
  }

  SolverResult r;
  if (gs == -1) groups = {whole};
  std::vector<std::int32_t> gidx(static_cast<std::size_t>(cols), 0);
  if (gs != -1) {
    // AutoGPTQ: g_idx = i // group_size in the solver's order, then g_idx[invperm] (static groups:
    // perm[i] // group_size first, i.e. each original column's own group).
    for (std::int64_t i = 0; i < cols; ++i) {
      const std::int64_t c = perm_host[i];
      gidx[static_cast<std::size_t>(c)] = static_cast<std::int32_t>((p.static_groups ? c : i) / gs);
    }
  }
  r.g_idx = at::tensor(gidx, at::TensorOptions().dtype(at::kInt));
  std::vector<at::Tensor> s, z;
  for (const Group& g : groups) s.push_back(g.scale), z.push_back(g.zero);
  r.scales = at::stack(s, 1);
  r.zeros = at::stack(z, 1).to(at::kInt);
  if (p.act_order) {
    C = C.index_select(1, invperm);
    Q = Q.index_select(1, invperm);
  }
  r.codes = C.to(at::kInt);
  r.dequant = Q;
  r.loss = losses.item<double>();
  (void)rows;
  return r;
}

}  // namespace qrun::gptq
