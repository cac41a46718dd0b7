// The float64 oracle checked on its own: against a naive textbook formula written out here
// (with the mask restated from SPEC §2, not through ResolvedMask::visible), against central
// finite differences of its own forward, on sampled rows, across thread counts, dtypes and
// strides. Problems are built by hand with float64 tensors and tiny head dims, which the
// public API would reject but the oracle accepts.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <vector>

#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "reference/reference.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct TinyConfig {
  int64_t batch = 2, n = 4, m = 5, heads = 4, kv_heads = 2, dim = 3, dim_v = 2;
  MaskKind mask = MaskKind::full;
  std::optional<Window> window;
  bool docs = false;
  bool explicit_positions = false;
  float scale = 0.f;
};

// A float64 problem with owned inputs; problem() binds them into a ForwardProblem.
struct TinyProblem {
  TinyConfig cfg;
  Tensor q, k, v, dout;  // [B,N,H,D], [B,M,G,D], [B,M,G,DV], [B,N,H,DV] float64
  std::vector<int32_t> q_docs, k_docs;
  std::vector<int64_t> q_pos, k_pos;
  AttentionSpec spec;

  TinyProblem(const TinyConfig& c, Rng& rng)
      : cfg(c),
        q(DType::f64, {c.batch, c.n, c.heads, c.dim}),
        k(DType::f64, {c.batch, c.m, c.kv_heads, c.dim}),
        v(DType::f64, {c.batch, c.m, c.kv_heads, c.dim_v}),
        dout(DType::f64, {c.batch, c.n, c.heads, c.dim_v}) {
    for (Tensor* t : {&q, &k, &v, &dout})
      for (int64_t i = 0; i < t->numel(); ++i) t->data<double>()[i] = rng.normal();
    spec.mask = c.mask;
    spec.window = c.window;
    spec.scale = c.scale;
    if (c.docs) {
      for (int64_t b = 0; b < c.batch; ++b) {
        for (int64_t i = 0; i < c.n; ++i) q_docs.push_back(int32_t(rng.uniform_int(0, 2)));
        for (int64_t j = 0; j < c.m; ++j) k_docs.push_back(int32_t(rng.uniform_int(0, 2)));
      }
      spec.q_doc_ids = q_docs.data();
      spec.k_doc_ids = k_docs.data();
    }
    if (c.explicit_positions) {
      for (int64_t i = 0; i < c.n; ++i) q_pos.push_back(rng.uniform_int(-2, c.m + 2));
      for (int64_t j = 0; j < c.m; ++j) k_pos.push_back(rng.uniform_int(0, c.m));
      spec.q_positions = Positions::from_array(q_pos.data());
      spec.k_positions = Positions::from_array(k_pos.data());
    }
  }
  TinyProblem(const TinyProblem&) = delete;

  // The softmax scale is a float in the spec and the problem; the oracle uses that value.
  double scale() const {
    return double(cfg.scale != 0.f ? cfg.scale : float(1.0 / std::sqrt(double(cfg.dim))));
  }

  ForwardProblem problem() const {
    ForwardProblem p;
    p.shape = {cfg.batch, cfg.n, cfg.m, cfg.heads, cfg.kv_heads, cfg.dim, cfg.dim_v};
    p.q = q.view();
    p.k = k.view();
    p.v = v.view();
    p.mask = resolve_mask(spec, cfg.n, cfg.m);
    p.scale = float(scale());
    return p;
  }
  BackwardProblem backward_problem() const {
    BackwardProblem bp;
    bp.fwd = problem();
    bp.dout = dout.view();
    return bp;
  }

  // SPEC §2 restated: positions default to bottom-right alignment.
  bool visible(int64_t b, int64_t i, int64_t j) const {
    const int64_t qp = cfg.explicit_positions ? q_pos[size_t(i)] : cfg.m - cfg.n + i;
    const int64_t kp = cfg.explicit_positions ? k_pos[size_t(j)] : j;
    if (cfg.mask == MaskKind::causal && kp > qp) return false;
    if (cfg.window && (kp < qp - cfg.window->left || kp > qp + cfg.window->right)) return false;
    if (cfg.docs && q_docs[size_t(b * cfg.n + i)] != k_docs[size_t(b * cfg.m + j)]) return false;
    return true;
  }
};

// Textbook attention: the full score matrix, softmax with exp() of raw scores (inputs are
// small, so no max-shift is needed), O = P V, LSE = log Σ exp.
reference::Forward naive_forward(const TinyProblem& t) {
  const TinyConfig& c = t.cfg;
  const double* q = t.q.data<double>();
  const double* k = t.k.data<double>();
  const double* v = t.v.data<double>();
  reference::Forward f;
  f.out.assign(size_t(c.batch * c.n * c.heads * c.dim_v), 0.0);
  f.lse.assign(size_t(c.batch * c.heads * c.n), -kInf);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / (c.heads / c.kv_heads);
      for (int64_t i = 0; i < c.n; ++i) {
        std::vector<double> e(size_t(c.m), 0.0);  // exp(S_ij), 0 where masked
        double z = 0.0;
        for (int64_t j = 0; j < c.m; ++j) {
          if (!t.visible(b, i, j)) continue;
          double s = 0.0;
          for (int64_t d = 0; d < c.dim; ++d)
            s += q[((b * c.n + i) * c.heads + h) * c.dim + d] *
                 k[((b * c.m + j) * c.kv_heads + g) * c.dim + d];
          e[size_t(j)] = std::exp(t.scale() * s);
          z += e[size_t(j)];
        }
        if (z == 0.0) continue;
        f.lse[size_t((b * c.heads + h) * c.n + i)] = std::log(z);
        for (int64_t j = 0; j < c.m; ++j)
          for (int64_t d = 0; d < c.dim_v; ++d)
            f.out[size_t(((b * c.n + i) * c.heads + h) * c.dim_v + d)] +=
                e[size_t(j)] / z * v[((b * c.m + j) * c.kv_heads + g) * c.dim_v + d];
      }
    }
  return f;
}

std::vector<TinyConfig> tiny_configs() {
  std::vector<TinyConfig> out;
  TinyConfig c;
  out.push_back(c);  // full, GQA 2
  c.mask = MaskKind::causal;
  out.push_back(c);  // causal N < M
  c.n = 7;
  c.m = 4;
  out.push_back(c);  // causal N > M: the first 3 rows see nothing
  c = TinyConfig{};
  c.window = Window{1, 0};
  c.mask = MaskKind::causal;
  out.push_back(c);
  c = TinyConfig{};
  c.window = Window{0, 2};
  out.push_back(c);
  c = TinyConfig{};
  c.docs = true;
  c.mask = MaskKind::causal;
  c.heads = 3;
  c.kv_heads = 1;
  out.push_back(c);
  c = TinyConfig{};
  c.explicit_positions = true;
  c.mask = MaskKind::causal;
  c.scale = 0.7f;
  out.push_back(c);
  c = TinyConfig{};
  c.explicit_positions = true;
  c.docs = true;
  c.window = Window{2, 1};
  c.dim = 5;
  c.dim_v = 4;
  out.push_back(c);
  return out;
}

std::string describe(const TinyConfig& c) {
  std::ostringstream os;
  os << "B=" << c.batch << " N=" << c.n << " M=" << c.m << " H=" << c.heads << " G=" << c.kv_heads
     << " D=" << c.dim << " DV=" << c.dim_v << (c.mask == MaskKind::causal ? " causal" : " full")
     << (c.window ? " window" : "") << (c.docs ? " docs" : "")
     << (c.explicit_positions ? " positions" : "");
  return os.str();
}

::testing::AssertionResult same_values(const std::vector<double>& got,
                                       const std::vector<double>& ref, double tol,
                                       const char* what) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << what << ": size differs";
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(ref[i]) || std::isinf(got[i])) {
      if (got[i] != ref[i])
        return ::testing::AssertionFailure()
               << what << "[" << i << "] = " << got[i] << ", expected " << ref[i];
      continue;
    }
    if (!(std::abs(got[i] - ref[i]) <= tol * std::max(1.0, std::abs(ref[i]))))
      return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i] << ", expected "
                                           << ref[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

TEST(Reference, MatchesNaiveFormula) {
  for (const TinyConfig& c : tiny_configs()) {
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE(describe(c) + ", " + seed_note(seed));
    Rng rng(seed);
    TinyProblem t(c, rng);
    const reference::Forward f = reference::forward(t.problem());
    const reference::Forward naive = naive_forward(t);
    EXPECT_TRUE(same_values(f.out, naive.out, 1e-12, "out"));
    EXPECT_TRUE(same_values(f.lse, naive.lse, 1e-12, "lse"));
    for (double x : f.out) ASSERT_FALSE(std::isnan(x));
  }
}

TEST(Reference, FullyMaskedRowsAreZeroWithMinusInfLse) {
  TinyConfig c;
  c.mask = MaskKind::causal;
  c.n = 7;
  c.m = 4;  // bottom-right: query i sits at position i - 3, rows 0..2 see no key
  Rng rng(fresh_seed());
  TinyProblem t(c, rng);
  const reference::Forward f = reference::forward(t.problem());
  const reference::Backward g = reference::backward(t.backward_problem());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.n; ++i) {
        const double lse = f.lse[size_t((b * c.heads + h) * c.n + i)];
        if (i < 3) {
          EXPECT_EQ(lse, -kInf);
        } else {
          EXPECT_TRUE(std::isfinite(lse));
        }
        for (int64_t d = 0; d < c.dim_v; ++d) {
          const double o = f.out[size_t(((b * c.n + i) * c.heads + h) * c.dim_v + d)];
          if (i < 3) {
            EXPECT_EQ(o, 0.0);
          }
        }
        for (int64_t d = 0; d < c.dim; ++d) {
          const double dq = g.dq[size_t(((b * c.n + i) * c.heads + h) * c.dim + d)];
          EXPECT_FALSE(std::isnan(dq));
          if (i < 3) {
            EXPECT_EQ(dq, 0.0);
          }
        }
      }
  for (double x : g.dk) EXPECT_FALSE(std::isnan(x));
  for (double x : g.dv) EXPECT_FALSE(std::isnan(x));
}

// L = Σ O ∘ dO; the oracle's backward must equal central differences of its forward.
TEST(Reference, BackwardMatchesFiniteDifferences) {
  for (const TinyConfig& c : tiny_configs()) {
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE(describe(c) + ", " + seed_note(seed));
    Rng rng(seed);
    TinyProblem t(c, rng);
    const reference::Backward g = reference::backward(t.backward_problem());
    auto loss = [&] {
      const reference::Forward f = reference::forward(t.problem());
      double l = 0.0;
      for (size_t i = 0; i < f.out.size(); ++i) l += f.out[i] * t.dout.data<double>()[i];
      return l;
    };
    struct Wrt {
      Tensor* x;
      const std::vector<double>* grad;
      const char* name;
    };
    for (const Wrt& w : {Wrt{&t.q, &g.dq, "dq"}, Wrt{&t.k, &g.dk, "dk"}, Wrt{&t.v, &g.dv, "dv"}}) {
      ASSERT_EQ(int64_t(w.grad->size()), w.x->numel()) << w.name;
      double max_grad = 0.0;
      for (double x : *w.grad) max_grad = std::max(max_grad, std::abs(x));
      for (int64_t e = 0; e < w.x->numel(); ++e) {
        double& x = w.x->data<double>()[e];
        const double saved = x, h = 1e-5;
        x = saved + h;
        const double up = loss();
        x = saved - h;
        const double down = loss();
        x = saved;
        const double numeric = (up - down) / (2 * h);
        EXPECT_NEAR((*w.grad)[size_t(e)], numeric, 1e-7 * std::max(1.0, max_grad))
            << w.name << "[" << e << "]";
      }
    }
  }
}

TEST(Reference, SampledRowsEqualFullRun) {
  TinyConfig c;
  c.n = 9;
  c.m = 7;
  c.mask = MaskKind::causal;
  c.docs = true;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  TinyProblem t(c, rng);
  const std::vector<int64_t> rows = {8, 0, 3, 3};
  const reference::Forward full = reference::forward(t.problem());
  const reference::Forward part = reference::forward(t.problem(), rows);
  const reference::Backward gfull = reference::backward(t.backward_problem());
  const reference::Backward gpart = reference::backward(t.backward_problem(), rows);
  EXPECT_TRUE(gpart.dk.empty());
  EXPECT_TRUE(gpart.dv.empty());
  ASSERT_EQ(part.out.size(), full.out.size());
  ASSERT_EQ(gpart.dq.size(), gfull.dq.size());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.n; ++i) {
        const bool sampled = i == 8 || i == 0 || i == 3;
        const size_t l = size_t((b * c.heads + h) * c.n + i);
        if (sampled) {
          EXPECT_EQ(part.lse[l], full.lse[l]);
        } else {
          EXPECT_TRUE(std::isnan(part.lse[l]));
        }
        for (int64_t d = 0; d < c.dim_v; ++d) {
          const size_t o = size_t(((b * c.n + i) * c.heads + h) * c.dim_v + d);
          if (sampled) {
            EXPECT_EQ(part.out[o], full.out[o]);
          } else {
            EXPECT_TRUE(std::isnan(part.out[o]));
          }
        }
        for (int64_t d = 0; d < c.dim; ++d) {
          const size_t o = size_t(((b * c.n + i) * c.heads + h) * c.dim + d);
          if (sampled) {
            EXPECT_NEAR(gpart.dq[o], gfull.dq[o], 1e-12 * std::max(1.0, std::abs(gfull.dq[o])));
          } else {
            EXPECT_TRUE(std::isnan(gpart.dq[o]));
          }
        }
      }
}

TEST(Reference, RowsOutOfRangeAreRejected) {
  TinyConfig c;
  Rng rng(fresh_seed());
  TinyProblem t(c, rng);
  EXPECT_THROW(reference::forward(t.problem(), {0, c.n}), ArgumentError);
  try {
    reference::backward(t.backward_problem(), {-1});
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "rows");
  }
}

TEST(Reference, ResultIndependentOfThreadCount) {
  TinyConfig c;
  c.n = 23;
  c.m = 29;
  c.mask = MaskKind::causal;
  c.dim = 8;
  c.dim_v = 16;
  Rng rng(fresh_seed());
  TinyProblem t(c, rng);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const reference::Backward one = reference::backward(t.backward_problem());
  omp_set_num_threads(2);
  const reference::Backward two = reference::backward(t.backward_problem());
  omp_set_num_threads(saved);
  EXPECT_EQ(one.dq, two.dq);
  EXPECT_EQ(one.dk, two.dk);
  EXPECT_EQ(one.dv, two.dv);
}

// Large logits: scores of order 1e4 must give finite O and an LSE equal to max + log Σ.
TEST(Reference, LargeLogitsDoNotOverflow) {
  TinyConfig c;
  c.mask = MaskKind::causal;
  c.scale = 1000.f;
  Rng rng(fresh_seed());
  TinyProblem t(c, rng);
  const reference::Forward f = reference::forward(t.problem());
  const reference::Backward g = reference::backward(t.backward_problem());
  for (double x : f.out) EXPECT_TRUE(std::isfinite(x));
  for (double x : f.lse) EXPECT_TRUE(std::isfinite(x));  // N < M: every row sees a key
  for (const auto* v : {&g.dq, &g.dk, &g.dv})
    for (double x : *v) EXPECT_TRUE(std::isfinite(x));
  double max_lse = 0.0;
  for (double x : f.lse) max_lse = std::max(max_lse, std::abs(x));
  EXPECT_GT(max_lse, 100.0);  // the test really produced large logits
}

// The oracle reads any dtype and any strides: bf16/f16 inputs give exactly the result of the
// same (rounded) values stored as f64, and a [B, H, N, D] layout the result of row-major.
TEST(Reference, DtypesAndStridesAreReadExactly) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int64_t B = 2, N = 5, M = 6, H = 2, G = 1, D = 8;
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  for (DType t : {DType::bf16, DType::f16, DType::f32}) {
    Operand q = random_operand(t, B, N, H, D, rng);
    Operand k = random_operand(t, B, M, G, D, rng, 1.f, /*heads_major=*/true);
    Operand v = random_operand(t, B, M, G, D, rng);
    Tensor q64(DType::f64, {B, N, H, D}), k64(DType::f64, {B, M, G, D}),
        v64(DType::f64, {B, M, G, D});
    const std::vector<double> qd = to_f64(q.view), kd = to_f64(k.view), vd = to_f64(v.view);
    std::memcpy(q64.data<double>(), qd.data(), qd.size() * 8);
    std::memcpy(k64.data<double>(), kd.data(), kd.size() * 8);
    std::memcpy(v64.data<double>(), vd.data(), vd.size() * 8);
    ForwardProblem p;
    p.shape = {B, N, M, H, G, D, D};
    p.mask = resolve_mask(spec, N, M);
    p.scale = 0.3f;
    p.q = q.view;
    p.k = k.view;
    p.v = v.view;
    const reference::Forward a = reference::forward(p);
    p.q = q64.view();
    p.k = k64.view();
    p.v = v64.view();
    const reference::Forward b = reference::forward(p);
    EXPECT_EQ(a.out, b.out) << dtype_name(t);
    EXPECT_EQ(a.lse, b.lse) << dtype_name(t);
  }
}

}  // namespace
}  // namespace longctx::test
