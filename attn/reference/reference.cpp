// The float64 oracle: brute-force attention straight from the definitions of SPEC §1.
//
// Every score S_ij = scale · q_i · k_j is computed directly for every visible pair (the mask is
// p.mask.visible, the single predicate every backend uses), in double, with a plain two-pass
// softmax per row. The backward uses the oracle's own forward (O, LSE), never the caller's, so a
// wrong kernel forward cannot hide a wrong kernel backward. Parallelism is over independent
// output rows only (OpenMP), so every output element is written by exactly one iteration and
// the result does not depend on the thread count.
#include "reference/reference.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "longctx/core/error.hpp"

namespace longctx::reference {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// A logical [B, rows, heads, dim] view copied to float64 and stored head-major,
// [B, heads, rows, dim], so that the rows of one head are contiguous.
class HeadMajor {
 public:
  explicit HeadMajor(const TensorView& t)
      : batch_(t.dim(0)),
        rows_(t.dim(1)),
        heads_(t.dim(2)),
        dim_(t.dim(3)),
        data_(size_t(batch_ * rows_ * heads_ * dim_)) {
    for (int64_t b = 0; b < batch_; ++b)
      for (int64_t h = 0; h < heads_; ++h)
        for (int64_t r = 0; r < rows_; ++r) {
          double* dst = &data_[size_t(((b * heads_ + h) * rows_ + r) * dim_)];
          for (int64_t c = 0; c < dim_; ++c)
            dst[c] = load_as_f64(t.data, t.dtype, t.offset(b, r, h, c));
        }
  }
  const double* row(int64_t b, int64_t h, int64_t r) const {
    return &data_[size_t(((b * heads_ + h) * rows_ + r) * dim_)];
  }

 private:
  int64_t batch_, rows_, heads_, dim_;
  std::vector<double> data_;  // [B, heads, rows, dim]
};

// Row r of head h in batch b of a logical [B, rows, heads, dim] view, as float64.
std::vector<double> load_row(const TensorView& t, int64_t b, int64_t r, int64_t h) {
  std::vector<double> row(size_t(t.dim(3)));
  for (int64_t c = 0; c < t.dim(3); ++c)
    row[size_t(c)] = load_as_f64(t.data, t.dtype, t.offset(b, r, h, c));
  return row;
}

// Four independent partial sums: the compiler can keep them in vector lanes (a single
// running sum would serialise on the add latency), and float64 keeps the result exact to ~1e-16.
double dot(const double* a, const double* b, int64_t n) {
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t c = 0;
  for (; c + 4 <= n; c += 4)
    for (int64_t l = 0; l < 4; ++l) s[l] += a[c + l] * b[c + l];
  for (; c < n; ++c) s[0] += a[c] * b[c];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Index helpers for the row-major outputs.
struct Index {
  AttentionShape s;
  size_t out(int64_t b, int64_t i, int64_t h) const {
    return size_t(((b * s.n + i) * s.heads + h) * s.dim_v);
  }
  size_t q(int64_t b, int64_t i, int64_t h) const {
    return size_t(((b * s.n + i) * s.heads + h) * s.dim);
  }
  size_t lse(int64_t b, int64_t h, int64_t i) const { return size_t((b * s.heads + h) * s.n + i); }
  size_t k(int64_t b, int64_t j, int64_t g) const {
    return size_t(((b * s.m + j) * s.kv_heads + g) * s.dim);
  }
  size_t v(int64_t b, int64_t j, int64_t g) const {
    return size_t(((b * s.m + j) * s.kv_heads + g) * s.dim_v);
  }
};

// Forward of one query row (b, h, i): writes out_row [DV] and returns LSE (-inf, O = 0 when the
// row sees no key).
double forward_row(const ForwardProblem& p, const HeadMajor& k, const HeadMajor& v, int64_t b,
                   int64_t h, int64_t i, const double* q_row, double* out_row) {
  const AttentionShape& s = p.shape;
  const int64_t g = h / s.group();
  const double scale = p.scale;
  std::vector<double> scores(size_t(s.m), kMinusInf);  // [M]; -inf where masked
  double row_max = kMinusInf;
  for (int64_t j = 0; j < s.m; ++j) {
    if (!p.mask.visible(b, i, j)) continue;
    scores[size_t(j)] = scale * dot(q_row, k.row(b, g, j), s.dim);
    if (scores[size_t(j)] > row_max) row_max = scores[size_t(j)];
  }
  for (int64_t c = 0; c < s.dim_v; ++c) out_row[c] = 0.0;
  if (row_max == kMinusInf) return kMinusInf;
  double sum = 0.0;
  for (int64_t j = 0; j < s.m; ++j) {
    if (scores[size_t(j)] == kMinusInf) continue;
    const double w = std::exp(scores[size_t(j)] - row_max);
    sum += w;
    const double* v_row = v.row(b, g, j);
    for (int64_t c = 0; c < s.dim_v; ++c) out_row[c] += w * v_row[c];
  }
  for (int64_t c = 0; c < s.dim_v; ++c) out_row[c] /= sum;
  return row_max + std::log(sum);
}

// dq of one query row given its LSE and D_i = dO_i · O_i:
//   dq_i = scale · Σ_j P_ij (dO_i·v_j − D_i) k_j,  P_ij = exp(S_ij − LSE_i).
void dq_row(const ForwardProblem& p, const HeadMajor& k, const HeadMajor& v, int64_t b, int64_t h,
            int64_t i, const double* q_row, const double* dout_row, double lse, double d_i,
            double* dq) {
  const AttentionShape& s = p.shape;
  const int64_t g = h / s.group();
  for (int64_t c = 0; c < s.dim; ++c) dq[c] = 0.0;
  if (lse == kMinusInf) return;  // the row sees no key: its output is constant 0
  for (int64_t j = 0; j < s.m; ++j) {
    if (!p.mask.visible(b, i, j)) continue;
    const double* k_row = k.row(b, g, j);
    const double prob = std::exp(p.scale * dot(q_row, k_row, s.dim) - lse);
    const double dscore = prob * (dot(dout_row, v.row(b, g, j), s.dim_v) - d_i);
    for (int64_t c = 0; c < s.dim; ++c) dq[c] += p.scale * dscore * k_row[c];
  }
}

}  // namespace

Forward forward(const ForwardProblem& p, const std::vector<int64_t>& rows) {
  const AttentionShape& s = p.shape;
  const Index ix{s};
  const std::vector<int64_t> todo = rows_to_compute(rows, s.n);
  const HeadMajor k(p.k), v(p.v);  // [B, G, M, D], [B, G, M, DV]
  Forward f;
  f.out.assign(size_t(s.batch * s.n * s.heads * s.dim_v), kNaN);  // [B, N, H, DV]
  f.lse.assign(size_t(s.batch * s.heads * s.n), kNaN);            // [B, H, N]
  const int64_t r = int64_t(todo.size());
  const int64_t tasks = s.batch * s.heads * r;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 64)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = t / (s.heads * r), h = (t / r) % s.heads, i = todo[size_t(t % r)];
    const std::vector<double> q_row = load_row(p.q, b, i, h);  // [D]
    f.lse[ix.lse(b, h, i)] = forward_row(p, k, v, b, h, i, q_row.data(), &f.out[ix.out(b, i, h)]);
  }
  return f;
}

Backward backward(const BackwardProblem& bp, const std::vector<int64_t>& rows) {
  const ForwardProblem& p = bp.fwd;
  const AttentionShape& s = p.shape;
  const Index ix{s};
  const int64_t group = s.group();
  const HeadMajor k(p.k), v(p.v);  // [B, G, M, D], [B, G, M, DV]
  Backward g;

  if (!rows.empty()) {
    // dq of the sampled rows only, from the oracle's forward of those rows.
    const std::vector<int64_t> todo = rows_to_compute(rows, s.n);
    const Forward f = forward(p, todo);
    g.dq.assign(size_t(s.batch * s.n * s.heads * s.dim), kNaN);  // [B, N, H, D]
    const int64_t r = int64_t(todo.size());
    const int64_t tasks = s.batch * s.heads * r;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 64)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t b = t / (s.heads * r), h = (t / r) % s.heads, i = todo[size_t(t % r)];
      const std::vector<double> q_row = load_row(p.q, b, i, h);         // [D]
      const std::vector<double> dout_row = load_row(bp.dout, b, i, h);  // [DV]
      const double d_i = dot(dout_row.data(), &f.out[ix.out(b, i, h)], s.dim_v);
      dq_row(p, k, v, b, h, i, q_row.data(), dout_row.data(), f.lse[ix.lse(b, h, i)], d_i,
             &g.dq[ix.q(b, i, h)]);
    }
    return g;
  }

  const Forward f = forward(p);
  const HeadMajor q(p.q), dout(bp.dout);                   // [B, H, N, D], [B, H, N, DV]
  std::vector<double> d(size_t(s.batch * s.heads * s.n));  // [B, H, N]: D_i = dO_i · O_i
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.n; ++i)
        d[ix.lse(b, h, i)] = dot(dout.row(b, h, i), &f.out[ix.out(b, i, h)], s.dim_v);

  g.dq.assign(size_t(s.batch * s.n * s.heads * s.dim), 0.0);       // [B, N, H, D]
  g.dk.assign(size_t(s.batch * s.m * s.kv_heads * s.dim), 0.0);    // [B, M, G, D]
  g.dv.assign(size_t(s.batch * s.m * s.kv_heads * s.dim_v), 0.0);  // [B, M, G, DV]

  const int64_t q_tasks = s.batch * s.heads * s.n;
#pragma omp parallel for schedule(dynamic, 1) if (q_tasks > 64)
  for (int64_t t = 0; t < q_tasks; ++t) {
    const int64_t b = t / (s.heads * s.n), h = (t / s.n) % s.heads, i = t % s.n;
    dq_row(p, k, v, b, h, i, q.row(b, h, i), dout.row(b, h, i), f.lse[ix.lse(b, h, i)],
           d[ix.lse(b, h, i)], &g.dq[ix.q(b, i, h)]);
  }

  // dk_j = scale · Σ_{h in group(g), i} dS_ij q_i,  dv_j = Σ_{h in group(g), i} P_ij dO_i.
  const int64_t k_tasks = s.batch * s.kv_heads * s.m;
#pragma omp parallel for schedule(dynamic, 1) if (k_tasks > 64)
  for (int64_t t = 0; t < k_tasks; ++t) {
    const int64_t b = t / (s.kv_heads * s.m), kvh = (t / s.m) % s.kv_heads, j = t % s.m;
    double* dk = &g.dk[ix.k(b, j, kvh)];
    double* dv = &g.dv[ix.v(b, j, kvh)];
    const double* k_row = k.row(b, kvh, j);
    const double* v_row = v.row(b, kvh, j);
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int64_t i = 0; i < s.n; ++i) {
        if (!p.mask.visible(b, i, j)) continue;
        const double* q_row = q.row(b, h, i);
        const double* dout_row = dout.row(b, h, i);
        const double prob = std::exp(p.scale * dot(q_row, k_row, s.dim) - f.lse[ix.lse(b, h, i)]);
        const double dscore = prob * (dot(dout_row, v_row, s.dim_v) - d[ix.lse(b, h, i)]);
        for (int64_t c = 0; c < s.dim_v; ++c) dv[c] += prob * dout_row[c];
        for (int64_t c = 0; c < s.dim; ++c) dk[c] += p.scale * dscore * q_row[c];
      }
    }
  }
  return g;
}

std::vector<int64_t> rows_to_compute(const std::vector<int64_t>& rows, int64_t n) {
  if (rows.empty()) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
    return all;
  }
  for (int64_t r : rows)
    LONGCTX_CHECK_ARG(r >= 0 && r < n, "rows",
                      "query row indices in [0, " + std::to_string(n) + ")", r);
  return rows;
}

}  // namespace longctx::reference
