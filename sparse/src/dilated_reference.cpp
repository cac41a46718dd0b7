// Float64 brute force of dilated mixtures (see longctx/sparse/dilated_reference.hpp). Each
// (batch, head, row) lists the keys of every pattern that covers it, so a key seen by two patterns
// appears twice; everything else is the dense oracle's arithmetic in double. Parallel over output
// rows only (dQ rows, then dK/dV rows), so the result does not depend on the thread count.
#include "longctx/sparse/dilated_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"

namespace longctx::sparse {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

AttentionShape check(const TensorView& q, const TensorView& k, const TensorView& v,
                     const DilatedSpec& spec) {
  validate_dilated(spec);
  const ForwardProblem p = make_forward_problem(q, k, v, AttentionSpec{});
  LONGCTX_CHECK_ARG(p.shape.m == p.shape.n, "k",
                    "as many key rows as query rows (dilated attention is self-attention)",
                    "M = " << p.shape.m << " with N = " << p.shape.n);
  return p.shape;
}

// Keys of row i for head h, one entry per (pattern, key) pair: the multiset of the header.
std::vector<int64_t> multiset_keys(const DilatedSpec& spec, int64_t n, int64_t h, int64_t i) {
  std::vector<int64_t> keys;
  for (const DilatedPattern& p : spec.patterns) {
    const int64_t s0 = i / p.segment * p.segment, o = h % p.dilation;
    if ((i - s0) % p.dilation != o) continue;
    const int64_t end = spec.causal ? i + 1 : std::min(n, s0 + p.segment);
    for (int64_t j = s0 + o; j < end; j += p.dilation) keys.push_back(j);
  }
  return keys;
}

double dot_rows(const TensorView& a, int64_t b, int64_t i, int64_t ha, const TensorView& c,
                int64_t j, int64_t hc) {
  double s = 0.0;
  for (int64_t e = 0; e < a.dim(3); ++e)
    s += load_as_f64(a.data, a.dtype, a.offset(b, i, ha, e)) *
         load_as_f64(c.data, c.dtype, c.offset(b, j, hc, e));
  return s;
}

struct RowResult {
  std::vector<int64_t> keys;
  std::vector<double> p;  // c_ij e^{S_ij − LSE_i} per entry of keys
  double lse = kMinusInf;
};

// Forward of one row: writes out_row [DV]; returns the keys and probabilities for the backward.
RowResult forward_row(const TensorView& q, const TensorView& k, const TensorView& v,
                      const DilatedSpec& spec, double scale, int64_t group, int64_t b, int64_t h,
                      int64_t i, double* out_row) {
  RowResult r;
  r.keys = multiset_keys(spec, q.dim(1), h, i);
  const int64_t g = h / group, dv = v.dim(3);
  for (int64_t e = 0; e < dv; ++e) out_row[e] = 0.0;
  if (r.keys.empty()) return r;
  std::vector<double> s(r.keys.size());
  double mx = kMinusInf;
  for (size_t t = 0; t < r.keys.size(); ++t) {
    s[t] = scale * dot_rows(q, b, i, h, k, r.keys[t], g);
    mx = std::max(mx, s[t]);
  }
  double sum = 0.0;
  for (double x : s) sum += std::exp(x - mx);
  r.lse = mx + std::log(sum);
  r.p.resize(s.size());
  for (size_t t = 0; t < s.size(); ++t) {
    r.p[t] = std::exp(s[t] - r.lse);
    for (int64_t e = 0; e < dv; ++e)
      out_row[e] += r.p[t] * load_as_f64(v.data, v.dtype, v.offset(b, r.keys[t], g, e));
  }
  return r;
}

std::vector<int64_t> rows_or_all(const std::vector<int64_t>& rows, int64_t n) {
  if (!rows.empty()) {
    for (int64_t r : rows)
      LONGCTX_CHECK_ARG(r >= 0 && r < n, "rows",
                        "query row indices in [0, " + std::to_string(n) + ")", r);
    return rows;
  }
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  return all;
}

}  // namespace

reference::Forward dilated_reference_forward(const TensorView& q, const TensorView& k,
                                             const TensorView& v, const DilatedSpec& spec,
                                             const std::vector<int64_t>& rows) {
  const AttentionShape s = check(q, k, v, spec);
  const double scale = spec.scale > 0.f ? spec.scale : 1.0 / std::sqrt(double(s.dim));
  const std::vector<int64_t> todo = rows_or_all(rows, s.n);
  reference::Forward f;
  f.out.assign(size_t(s.batch * s.n * s.heads * s.dim_v), kNaN);  // [B, N, H, DV]
  f.lse.assign(size_t(s.batch * s.heads * s.n), kNaN);            // [B, H, N]
  const int64_t r = int64_t(todo.size()), tasks = s.batch * s.heads * r;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = t / (s.heads * r), h = t / r % s.heads, i = todo[size_t(t % r)];
    f.lse[size_t((b * s.heads + h) * s.n + i)] =
        forward_row(q, k, v, spec, scale, s.group(), b, h, i,
                    &f.out[size_t(((b * s.n + i) * s.heads + h) * s.dim_v)])
            .lse;
  }
  return f;
}

reference::Backward dilated_reference_backward(const TensorView& q, const TensorView& k,
                                               const TensorView& v, const TensorView& dout,
                                               const DilatedSpec& spec,
                                               const std::vector<int64_t>& rows) {
  const AttentionShape s = check(q, k, v, spec);
  const double scale = spec.scale > 0.f ? spec.scale : 1.0 / std::sqrt(double(s.dim));
  const std::vector<int64_t> todo = rows_or_all(rows, s.n);
  const int64_t r = int64_t(todo.size()), tasks = s.batch * s.heads * r;
  reference::Backward g;
  g.dq.assign(size_t(s.batch * s.n * s.heads * s.dim), rows.empty() ? 0.0 : kNaN);
  // LSE_i and D_i = dO_i·O_i per (b, h, i), [B, H, N], for the dK/dV pass.
  std::vector<double> lse(size_t(s.batch * s.heads * s.n)), delta(lse.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = t / (s.heads * r), h = t / r % s.heads, i = todo[size_t(t % r)];
    std::vector<double> o(static_cast<size_t>(s.dim_v));
    const RowResult row = forward_row(q, k, v, spec, scale, s.group(), b, h, i, o.data());
    double* dq = &g.dq[size_t(((b * s.n + i) * s.heads + h) * s.dim)];
    for (int64_t e = 0; e < s.dim; ++e) dq[e] = 0.0;
    double d_i = 0.0;
    for (int64_t e = 0; e < s.dim_v; ++e)
      d_i += load_as_f64(dout.data, dout.dtype, dout.offset(b, i, h, e)) * o[size_t(e)];
    lse[size_t((b * s.heads + h) * s.n + i)] = row.lse;
    delta[size_t((b * s.heads + h) * s.n + i)] = d_i;
    const int64_t kv = h / s.group();
    for (size_t e = 0; e < row.keys.size(); ++e) {
      const int64_t j = row.keys[e];
      const double ds = row.p[e] * (dot_rows(dout, b, i, h, v, j, kv) - d_i);
      for (int64_t c = 0; c < s.dim; ++c)
        dq[c] += scale * ds * load_as_f64(k.data, k.dtype, k.offset(b, j, kv, c));
    }
  }
  if (!rows.empty()) return g;

  // dK, dV per key row j: the queries that see j in each pattern (one copy per pattern), with
  // P_ij = e^{S_ij − LSE_i} recomputed from the saved LSE.
  g.dk.assign(size_t(s.batch * s.n * s.kv_heads * s.dim), 0.0);    // [B, M, G, D]
  g.dv.assign(size_t(s.batch * s.n * s.kv_heads * s.dim_v), 0.0);  // [B, M, G, DV]
  const int64_t key_rows = s.batch * s.kv_heads * s.n;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t kr = 0; kr < key_rows; ++kr) {
    const int64_t b = kr / (s.kv_heads * s.n), kv = kr / s.n % s.kv_heads, j = kr % s.n;
    double* dk = &g.dk[size_t(((b * s.n + j) * s.kv_heads + kv) * s.dim)];
    double* dv = &g.dv[size_t(((b * s.n + j) * s.kv_heads + kv) * s.dim_v)];
    for (int64_t h = kv * s.group(); h < (kv + 1) * s.group(); ++h)
      for (const DilatedPattern& p : spec.patterns) {
        const int64_t s0 = j / p.segment * p.segment, o = h % p.dilation;
        if ((j - s0) % p.dilation != o) continue;
        const int64_t end = std::min(s.n, s0 + p.segment);
        for (int64_t i = spec.causal ? j : s0 + o; i < end; i += p.dilation) {
          const size_t row = size_t((b * s.heads + h) * s.n + i);
          const double prob = std::exp(scale * dot_rows(q, b, i, h, k, j, kv) - lse[row]);
          const double ds = prob * (dot_rows(dout, b, i, h, v, j, kv) - delta[row]);
          for (int64_t e = 0; e < s.dim; ++e)
            dk[e] += scale * ds * load_as_f64(q.data, q.dtype, q.offset(b, i, h, e));
          for (int64_t e = 0; e < s.dim_v; ++e)
            dv[e] += prob * load_as_f64(dout.data, dout.dtype, dout.offset(b, i, h, e));
        }
      }
  }
  return g;
}

}  // namespace longctx::sparse
