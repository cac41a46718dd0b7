// The float64 oracle of DSA (dsa_reference.hpp): SPEC §1's definitions evaluated over exactly
// the selected keys of each query row, in double, one row at a time. Only the shapes are
// validated here (through make_forward_problem); the selection is checked like the kernels do.
#include "longctx/sparse/dsa_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "dsa_common.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "reference/reference.hpp"

namespace longctx::sparse::reference {
namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> row64(const TensorView& x, int64_t b, int64_t r, int64_t h) {
  std::vector<double> out(size_t(x.dim(3)));
  for (int64_t c = 0; c < x.dim(3); ++c)
    out[size_t(c)] = load_as_f64(x.data, x.dtype, x.offset(b, r, h, c));
  return out;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t c = 0; c < a.size(); ++c) s += a[c] * b[c];
  return s;
}

// Probabilities of query row (b, t, h) over its selected keys, and its LSE.
std::vector<double> probabilities(const ForwardProblem& p, const TopkSelection& sel, int64_t b,
                                  int64_t t, int64_t h, double* lse) {
  const int64_t g = h / p.shape.group(), sg = selection_group(sel, g);
  const int32_t* idx = sel.keys(b, sg, t);
  const int64_t count = sel.size(b, sg, t);
  const std::vector<double> qrow = row64(p.q, b, t, h);
  std::vector<double> prob(static_cast<size_t>(count));
  double mx = kMinusInf;
  for (int64_t i = 0; i < count; ++i) {
    prob[size_t(i)] = double(p.scale) * dot(qrow, row64(p.k, b, idx[i], g));
    mx = std::max(mx, prob[size_t(i)]);
  }
  double sum = 0.0;
  for (double& x : prob) sum += (x = std::exp(x - mx));
  for (double& x : prob) x /= sum;
  *lse = count > 0 ? mx + std::log(sum) : kMinusInf;
  return prob;
}

}  // namespace

DsaForward dsa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                       const TopkSelection& selection, const AttentionSpec& spec,
                       const std::vector<int64_t>& rows) {
  const ForwardProblem p = make_forward_problem(q, k, v, spec);
  check_selection(selection, p.shape);
  const AttentionShape& s = p.shape;
  const std::vector<int64_t> todo = longctx::reference::rows_to_compute(rows, s.n);
  const int64_t nt = int64_t(todo.size());
  DsaForward f;
  f.out.assign(size_t(s.batch * s.n * s.heads * s.dim_v), kNaN);
  f.lse.assign(size_t(s.batch * s.heads * s.n), kNaN);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t task = 0; task < s.batch * nt * s.heads; ++task) {
    const int64_t b = task / (nt * s.heads), t = todo[size_t((task / s.heads) % nt)],
                  h = task % s.heads;
    const int64_t r = (b * s.n + t) * s.heads + h;
    const int64_t g = h / s.group(), sg = selection_group(selection, g);
    double lse = 0.0;
    const std::vector<double> prob = probabilities(p, selection, b, t, h, &lse);
    f.lse[size_t((b * s.heads + h) * s.n + t)] = lse;
    double* o = &f.out[size_t(r * s.dim_v)];
    std::fill(o, o + s.dim_v, 0.0);
    for (int64_t i = 0; i < int64_t(prob.size()); ++i) {
      const std::vector<double> vrow = row64(v, b, selection.keys(b, sg, t)[i], g);
      for (int64_t c = 0; c < s.dim_v; ++c) o[c] += prob[size_t(i)] * vrow[size_t(c)];
    }
  }
  return f;
}

DsaBackward dsa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                         const TensorView& dout, const TopkSelection& selection,
                         const AttentionSpec& spec, const std::vector<int64_t>& rows) {
  const ForwardProblem p = make_forward_problem(q, k, v, spec);
  check_selection(selection, p.shape);
  const AttentionShape& s = p.shape;
  const bool sampled = !rows.empty();
  const std::vector<int64_t> todo = longctx::reference::rows_to_compute(rows, s.n);
  DsaBackward g;
  g.dq.assign(size_t(s.batch * s.n * s.heads * s.dim), sampled ? kNaN : 0.0);
  if (!sampled) {
    g.dk.assign(size_t(s.batch * s.m * s.kv_heads * s.dim), 0.0);
    g.dv.assign(size_t(s.batch * s.m * s.kv_heads * s.dim_v), 0.0);
  }
  std::vector<double> scratch_dk(size_t(s.dim)), scratch_dv(size_t(s.dim_v));
  // Sequential: dK and dV receive contributions from many rows.
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t t : todo)
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t kv = h / s.group(), sg = selection_group(selection, kv);
        const int32_t* idx = selection.keys(b, sg, t);
        double lse = 0.0;
        const std::vector<double> prob = probabilities(p, selection, b, t, h, &lse);
        const std::vector<double> qrow = row64(q, b, t, h), grow = row64(dout, b, t, h);
        std::vector<double> o(size_t(s.dim_v), 0.0);
        for (size_t i = 0; i < prob.size(); ++i) {
          const std::vector<double> vrow = row64(v, b, idx[i], kv);
          for (int64_t c = 0; c < s.dim_v; ++c) o[size_t(c)] += prob[i] * vrow[size_t(c)];
        }
        const double d_row = dot(grow, o);
        double* dq = &g.dq[size_t(((b * s.n + t) * s.heads + h) * s.dim)];
        std::fill(dq, dq + s.dim, 0.0);
        for (size_t i = 0; i < prob.size(); ++i) {
          const int64_t j = idx[i];
          const std::vector<double> krow = row64(k, b, j, kv), vrow = row64(v, b, j, kv);
          const double ds = prob[i] * (dot(grow, vrow) - d_row);
          double* dk = sampled ? scratch_dk.data()
                               : &g.dk[size_t(((b * s.m + j) * s.kv_heads + kv) * s.dim)];
          double* dv = sampled ? scratch_dv.data()
                               : &g.dv[size_t(((b * s.m + j) * s.kv_heads + kv) * s.dim_v)];
          for (int64_t c = 0; c < s.dim; ++c) {
            dq[c] += double(p.scale) * ds * krow[size_t(c)];
            dk[c] += double(p.scale) * ds * qrow[size_t(c)];
          }
          for (int64_t c = 0; c < s.dim_v; ++c) dv[c] += prob[i] * grow[size_t(c)];
        }
      }
  return g;
}

}  // namespace longctx::sparse::reference
