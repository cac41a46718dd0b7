// The indexer's KL training loss and its gradient (indexer_loss.hpp), in float64.
//
// Pass 1, one task per (batch, selection group, query row t) over the row's key set K_t (every
// visible key, or the selected ones): the main attention's per-head LSE over K_t, the target
// p_t, the indexer scores I_t and their log-normaliser; it adds the row's KL term and owns the
// row's dq_I and dw. The per-row LSEs are kept, so pass 2 (one task per key s) can recompute
// g(t, s) = softmax(I_t)(s) − p_t(s) for every row that contains s and own dk_I(s).
#include "longctx/sparse/indexer_loss.hpp"

#include <omp.h>

#include <cmath>
#include <limits>

#include "dsa_common.hpp"
#include "dsa_transpose.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/threads.hpp"

namespace longctx::sparse {
namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// A logical [B, rows, heads, dim] view copied to float64, row-major.
struct Rows64 {
  int64_t rows = 0, heads = 0, dim = 0;
  std::vector<double> data;
  explicit Rows64(const TensorView& x)
      : rows(x.dim(1)), heads(x.dim(2)), dim(x.dim(3)), data(size_t(x.numel())) {
    size_t i = 0;
    for (int64_t b = 0; b < x.dim(0); ++b)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t c = 0; c < dim; ++c)
            data[i++] = load_as_f64(x.data, x.dtype, x.offset(b, r, h, c));
  }
  const double* row(int64_t b, int64_t r, int64_t h) const {
    return data.data() + ((b * rows + r) * heads + h) * dim;
  }
};

double dot(const double* a, const double* b, int64_t n) {
  double s = 0.0;
  for (int64_t c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

double log_sum_exp(const std::vector<double>& x) {
  double mx = kMinusInf;
  for (double v : x) mx = std::max(mx, v);
  if (mx == kMinusInf) return kMinusInf;
  double s = 0.0;
  for (double v : x) s += std::exp(v - mx);
  return mx + std::log(s);
}

struct Problem {
  const ForwardProblem& attn;
  const IndexerInputs& ix;
  const TopkSelection* sel;
  Rows64 q, k, qi, ki, w;  // q [B,N,H,D], k [B,M,G,D], q_I, k_I, w [B,N,S,H_I]
  int64_t groups, heads_i, dim_i, heads_per_group;

  // Key set of row (b, s, t): the selection's, or every visible key.
  std::vector<int64_t> keys(int64_t b, int64_t s, int64_t t) const {
    std::vector<int64_t> out;
    if (sel) {
      for (int64_t i = 0; i < sel->size(b, s, t); ++i) out.push_back(sel->keys(b, s, t)[i]);
    } else {
      for (int64_t j = 0; j < attn.shape.m; ++j)
        if (attn.mask.visible(b, t, j)) out.push_back(j);
    }
    return out;
  }
  // Query heads of selection group s.
  int64_t head0(int64_t s) const { return s * heads_per_group; }
  double score(int64_t b, int64_t t, int64_t h, int64_t j) const {
    const int64_t g = h / attn.shape.group();
    return double(attn.scale) * dot(q.row(b, t, h), k.row(b, j, g), attn.shape.dim);
  }
  double indexer(int64_t b, int64_t s, int64_t t, int64_t j) const {
    double sum = 0.0;
    for (int64_t i = 0; i < heads_i; ++i)
      sum += w.row(b, t, s)[i] *
             std::max(0.0, dot(qi.row(b, t, s * heads_i + i), ki.row(b, j, s), dim_i));
    return sum;
  }
};

}  // namespace

IndexerLoss indexer_kl_loss(const TensorView& q, const TensorView& k, const AttentionSpec& spec,
                            const IndexerInputs& indexer, const TopkSelection* restrict_to,
                            int threads) {
  // v only fixes shapes for make_forward_problem; k serves (the loss never reads values).
  const ForwardProblem attn = make_forward_problem(q, k, k, spec);
  const AttentionShape& s = attn.shape;
  check_indexer_inputs(indexer, s.batch, s.n, s.m, s.kv_heads);
  const int64_t groups = indexer.groups();
  if (restrict_to) {
    check_selection(*restrict_to, s);
    LONGCTX_CHECK_ARG(restrict_to->groups == groups, "restrict_to",
                      "a selection with the indexer's S = " << groups << " groups",
                      restrict_to->groups);
  }
  const Problem pr{attn,      indexer,           restrict_to,       Rows64(q),
                   Rows64(k), Rows64(indexer.q), Rows64(indexer.k), Rows64(indexer.w),
                   groups,    indexer.heads(),   indexer.dim(),     s.heads / groups};
  const int64_t hi = pr.heads_i, di = pr.dim_i, hpg = pr.heads_per_group;
  IndexerLoss r;
  r.dq.assign(size_t(indexer.q.numel()), 0.0);
  r.dk.assign(size_t(indexer.k.numel()), 0.0);
  r.dw.assign(size_t(indexer.w.numel()), 0.0);
  const int64_t rows = s.batch * groups * s.n;
  std::vector<double> attn_lse(size_t(rows * hpg), kMinusInf);  // [B, S, N, heads of s]
  std::vector<double> index_lse(size_t(rows), kMinusInf);       // [B, S, N]
  const int nthreads = resolve_threads(threads);
  std::vector<double> row_loss(size_t(rows), 0.0);  // summed in row order: deterministic

  // p_t(j) given the row's per-head LSEs.
  const auto target = [&](int64_t b, int64_t sg, int64_t t, int64_t j, const double* lse) {
    double p = 0.0;
    for (int64_t h = 0; h < hpg; ++h) p += std::exp(pr.score(b, t, pr.head0(sg) + h, j) - lse[h]);
    return p / double(hpg);
  };

#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / (groups * s.n), sg = (row / s.n) % groups, t = row % s.n;
    const std::vector<int64_t> keys = pr.keys(b, sg, t);
    if (keys.empty()) continue;
    double* lse = &attn_lse[size_t(row * hpg)];
    std::vector<double> x(keys.size());
    for (int64_t h = 0; h < hpg; ++h) {
      for (size_t i = 0; i < keys.size(); ++i) x[i] = pr.score(b, t, pr.head0(sg) + h, keys[i]);
      lse[h] = log_sum_exp(x);
    }
    std::vector<double> scores(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) scores[i] = pr.indexer(b, sg, t, keys[i]);
    const double z = index_lse[size_t(row)] = log_sum_exp(scores);
    const double* wrow = pr.w.row(b, t, sg);
    double* dw = &r.dw[size_t(((b * s.n + t) * groups + sg) * hi)];
    for (size_t i = 0; i < keys.size(); ++i) {
      const double p = target(b, sg, t, keys[i], lse), logq = scores[i] - z;
      if (p > 0.0) row_loss[size_t(row)] += p * (std::log(p) - logq);
      const double gi = std::exp(logq) - p;  // ∂L/∂I(t, j)
      const double* kirow = pr.ki.row(b, keys[i], sg);
      for (int64_t hh = 0; hh < hi; ++hh) {
        const double* qirow = pr.qi.row(b, t, sg * hi + hh);
        const double d = dot(qirow, kirow, di);
        if (d <= 0.0) continue;
        dw[hh] += gi * d;
        double* dq = &r.dq[size_t(((b * s.n + t) * groups * hi + sg * hi + hh) * di)];
        for (int64_t c = 0; c < di; ++c) dq[c] += gi * wrow[hh] * kirow[c];
      }
    }
  }
  for (double x : row_loss) r.loss += x;

  // Pass 2: dk_I, one task per key; the rows containing key j in ascending t.
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t sg = 0; sg < groups; ++sg) {
      KeyToQueries kq;
      if (restrict_to) kq = transpose_selection(*restrict_to, b, sg, s.m);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4)
      for (int64_t j = 0; j < s.m; ++j) {
        std::vector<int32_t> dense_rows;
        const int32_t* list = nullptr;
        int64_t count = 0;
        if (restrict_to) {
          list = kq.begin(j);
          count = kq.size(j);
        } else {
          for (int64_t t = 0; t < s.n; ++t)
            if (attn.mask.visible(b, t, j)) dense_rows.push_back(int32_t(t));
          list = dense_rows.data();
          count = int64_t(dense_rows.size());
        }
        const double* kirow = pr.ki.row(b, j, sg);
        double* dk = &r.dk[size_t(((b * s.m + j) * groups + sg) * di)];
        for (int64_t i = 0; i < count; ++i) {
          const int64_t t = list[i], row = (b * groups + sg) * s.n + t;
          const double p = target(b, sg, t, j, &attn_lse[size_t(row * hpg)]);
          const double gi = std::exp(pr.indexer(b, sg, t, j) - index_lse[size_t(row)]) - p;
          const double* wrow = pr.w.row(b, t, sg);
          for (int64_t hh = 0; hh < hi; ++hh) {
            const double* qirow = pr.qi.row(b, t, sg * hi + hh);
            if (dot(qirow, kirow, di) <= 0.0) continue;
            for (int64_t c = 0; c < di; ++c) dk[c] += gi * wrow[hh] * qirow[c];
          }
        }
      }
    }
  return r;
}

}  // namespace longctx::sparse
