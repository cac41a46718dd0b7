// LongNet dilated attention against float64 oracles, forward and backward:
//  * a brute force straight from the definition: the mixture merged by softmax denominators
//    is one softmax over the multiset of the patterns' visible keys, so pair (i, j) of head h
//    enters with multiplicity c_ij = #patterns that see it; its gradient follows from the
//    same formulas as dense attention with weights c_ij (independent of the compact gathers
//    and of the backward derivation in dilated.cpp);
//  * the project's dense float64 reference (reference::forward) run once per pattern and head
//    with an equivalent mask (documents = segment ids, off-lattice rows in documents of their
//    own), merged in float64 — ties the brute force to the oracle every other mask uses.
// Odd sizes, ragged segments (N % w != 0, w % r != 0), segments longer than N, head offsets,
// GQA, causal and full, f32 and bf16, 1 and 2 threads. Bad specs give errors naming the argument.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention_case.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "longctx/sparse/dilated.hpp"
#include "longctx/sparse/dilated_reference.hpp"
#include "reference/reference.hpp"

namespace longctx::test {
namespace {

using sparse::DilatedPattern;
using sparse::DilatedSpec;

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

struct MixtureOracle {
  std::vector<double> out, lse, dq, dk,
      dv;  // [B,N,H,DV], [B,H,N], [B,N,H,D], [B,N,G,D], [B,N,G,DV]
};

// The multiset brute force (see the file comment), everything in float64.
MixtureOracle brute_force(const AttentionInputs& in, const DilatedSpec& spec) {
  const TensorView &q = in.q.view, &k = in.k.view, &v = in.v.view, &dout = in.dout.view;
  const int64_t B = q.dim(0), N = q.dim(1), H = q.dim(2), D = q.dim(3), G = k.dim(2), DV = v.dim(3),
                group = H / G;
  const double scale = spec.scale > 0.f ? spec.scale : 1.0 / std::sqrt(double(D));
  MixtureOracle r;
  r.out.assign(size_t(B * N * H * DV), 0.0);
  r.lse.assign(size_t(B * H * N), kMinusInf);
  r.dq.assign(size_t(B * N * H * D), 0.0);
  r.dk.assign(size_t(B * N * G * D), 0.0);
  r.dv.assign(size_t(B * N * G * DV), 0.0);
  const auto at = [](const TensorView& t, int64_t b, int64_t i, int64_t h, int64_t c) {
    return double(t.load(b, i, h, c));
  };
  std::vector<double> s(static_cast<size_t>(N)), mult(s.size()), p(s.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group;
      for (int64_t i = 0; i < N; ++i) {
        double mx = kMinusInf;
        for (int64_t j = 0; j < N; ++j) {
          mult[size_t(j)] = 0;
          for (const DilatedPattern& pat : spec.patterns)
            mult[size_t(j)] += sparse::dilated_visible(pat, spec.causal, h, i, j) ? 1 : 0;
          if (mult[size_t(j)] == 0) continue;
          double dot = 0;
          for (int64_t c = 0; c < D; ++c) dot += at(q, b, i, h, c) * at(k, b, j, g, c);
          s[size_t(j)] = scale * dot;
          mx = std::max(mx, s[size_t(j)]);
        }
        if (mx == kMinusInf) continue;  // no pattern covers the row: O = 0, LSE = -inf
        double sum = 0;
        for (int64_t j = 0; j < N; ++j)
          if (mult[size_t(j)] > 0) sum += mult[size_t(j)] * std::exp(s[size_t(j)] - mx);
        const double lse = mx + std::log(sum);
        r.lse[size_t((b * H + h) * N + i)] = lse;
        double* o = &r.out[size_t(((b * N + i) * H + h) * DV)];
        for (int64_t j = 0; j < N; ++j) {
          p[size_t(j)] = mult[size_t(j)] > 0 ? mult[size_t(j)] * std::exp(s[size_t(j)] - lse) : 0;
          for (int64_t c = 0; c < DV; ++c) o[c] += p[size_t(j)] * at(v, b, j, g, c);
        }
        // Backward: D_i = dO·O; dS_ij = P_ij (dO·v_j − D_i) with P_ij = c_ij e^{S_ij − lse}.
        double d_i = 0;
        for (int64_t c = 0; c < DV; ++c) d_i += at(dout, b, i, h, c) * o[c];
        for (int64_t j = 0; j < N; ++j) {
          if (p[size_t(j)] == 0) continue;
          double dp = 0;
          for (int64_t c = 0; c < DV; ++c) dp += at(dout, b, i, h, c) * at(v, b, j, g, c);
          const double ds = p[size_t(j)] * (dp - d_i);
          for (int64_t c = 0; c < D; ++c) {
            r.dq[size_t(((b * N + i) * H + h) * D + c)] += scale * ds * at(k, b, j, g, c);
            r.dk[size_t(((b * N + j) * G + g) * D + c)] += scale * ds * at(q, b, i, h, c);
          }
          for (int64_t c = 0; c < DV; ++c)
            r.dv[size_t(((b * N + j) * G + g) * DV + c)] += p[size_t(j)] * at(dout, b, i, h, c);
        }
      }
    }
  return r;
}

struct DilatedCase {
  std::string name;
  int64_t batch = 1, n = 97, heads = 4, kv_heads = 2, dim = 64;
  std::vector<DilatedPattern> patterns;
  bool causal = true;
  DType dtype = DType::f32;
  int threads = 0;
  bool heads_major = false;  // [B, H, N, D] storage
};

void PrintTo(const DilatedCase& c, std::ostream* os) {
  *os << c.name;
}

AttentionCase as_attention_case(const DilatedCase& d) {
  AttentionCase c;
  c.name = d.name;
  c.batch = d.batch;
  c.n = c.m = d.n;
  c.heads = d.heads;
  c.kv_heads = d.kv_heads;
  c.dim = d.dim;
  c.dtype = d.dtype;
  c.heads_major = d.heads_major;
  c.mask = d.causal ? MaskKind::causal : MaskKind::full;
  return c;
}

void check_dilated_case(const DilatedCase& d) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(d.name + ", " + seed_note(seed));
  const AttentionCase c = as_attention_case(d);
  AttentionInputs in(c, seed);
  const CaseTolerance t = case_tolerance(c, in);
  DilatedSpec spec;
  spec.patterns = d.patterns;
  spec.causal = d.causal;
  AttentionOptions options;
  options.threads = d.threads;

  const ForwardResult fwd = sparse::dilated_forward(in.q.view, in.k.view, in.v.view, spec, options);
  const MixtureOracle ref = brute_force(in, spec);
  EXPECT_TRUE(rows_close(to_f64(fwd.out), ref.out, c.dv(), t.values, "out", t.floor_out));
  EXPECT_TRUE(lse_close(to_f64(fwd.lse), ref.lse, t.lse));

  const BackwardResult bwd = sparse::dilated_backward(in.q.view, in.k.view, in.v.view, fwd.out,
                                                      fwd.lse, in.dout.view, spec, options);
  // A key row of dK/dV sums over up to #patterns copies of the dense case's terms.
  const double copies = std::sqrt(double(d.patterns.size()));
  EXPECT_TRUE(rows_close(to_f64(bwd.dq), ref.dq, c.dim, t.values, "dq", t.floor_dq * copies));
  EXPECT_TRUE(rows_close(to_f64(bwd.dk), ref.dk, c.dim, t.values, "dk", t.floor_dk * copies));
  EXPECT_TRUE(rows_close(to_f64(bwd.dv), ref.dv, c.dv(), t.values, "dv", t.floor_dv * copies));
}

std::vector<DilatedCase> all_cases() {
  std::vector<DilatedCase> cases;
  const auto add = [&](std::string name, int64_t n, std::vector<DilatedPattern> p) {
    DilatedCase c;
    c.name = std::move(name);
    c.n = sized(n);
    c.patterns = std::move(p);
    cases.push_back(c);
    return &cases.back();
  };
  // Scaled-down LongNet settings: ragged last segments, w % r != 0 (w = 16, r = 6), w > N.
  add("longnet_like_n131", 131, {{8, 1}, {16, 2}, {32, 4}, {64, 6}, {256, 12}})->heads = 12;
  add("n37_three_patterns", 37, {{4, 1}, {8, 2}, {16, 4}});
  add("n97_offsets", 97, {{10, 1}, {30, 3}, {60, 5}})->heads = 6;
  add("n577_gqa", 577, {{64, 1}, {128, 2}, {256, 4}})->kv_heads = 1;
  {
    DilatedCase* c = add("full_segments_bidirectional", 131, {{16, 1}, {48, 3}, {96, 4}});
    c->causal = false;
    c->heads = 8;
  }
  {  // only dilated patterns: offset rows of a head outside every lattice stay empty
    DilatedCase* c = add("uncovered_rows", 97, {{12, 4}, {24, 6}});
    c->heads = 3;
    c->kv_heads = 1;
  }
  // Without GQA every offset's K/V are every r-th KV head: strided views of the inputs, also
  // over a batch when N is a multiple of the segment; and in [B, H, N, D] storage.
  {
    DilatedCase* c = add("mha_strided_views", 128, {{16, 1}, {32, 2}, {64, 4}});
    c->batch = 2;
    c->kv_heads = 4;
  }
  {
    DilatedCase* c = add("mha_heads_major_ragged", 131, {{16, 1}, {40, 3}, {100, 5}});
    c->heads = c->kv_heads = 6;
    c->heads_major = true;
  }
  for (int threads : {1, 2}) {
    DilatedCase* c =
        add("bf16_threads" + std::to_string(threads), 131, {{16, 1}, {32, 2}, {64, 4}});
    c->dtype = DType::bf16;
    c->threads = threads;
    c->batch = 2;
    DilatedCase* f = add("f32_threads" + std::to_string(threads), 97, {{20, 1}, {40, 2}});
    f->threads = threads;
  }
  return cases;
}

class Dilated : public ::testing::TestWithParam<DilatedCase> {};

TEST_P(Dilated, ForwardAndBackwardMatchBruteForce) {
  check_dilated_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, Dilated, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<DilatedCase>& info) {
                           return info.param.name;
                         });

// The brute force's forward equals the project's dense float64 reference run per pattern and
// head under an equivalent mask and merged in float64.
TEST(DilatedOracle, BruteForceEqualsPerPatternReferenceMerged) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  DilatedCase d;
  d.n = sized(101);
  d.heads = 6;
  d.kv_heads = 3;
  d.patterns = {{8, 1}, {20, 2}, {45, 3}, {90, 6}};
  const AttentionCase c = as_attention_case(d);
  AttentionInputs in(c, seed);
  DilatedSpec spec;
  spec.patterns = d.patterns;
  const MixtureOracle brute = brute_force(in, spec);
  const int64_t N = d.n, H = d.heads, DV = c.dv();
  std::vector<double> out(size_t(N * H * DV), 0.0), lse(size_t(H * N), kMinusInf);
  for (const DilatedPattern& p : spec.patterns)
    for (int64_t h = 0; h < H; ++h) {
      // Documents = segment id on the head's lattice; other rows in documents nobody shares.
      std::vector<int32_t> q_doc(static_cast<size_t>(N)), k_doc(q_doc.size());
      for (int64_t i = 0; i < N; ++i) {
        const bool on = (i % p.segment) % p.dilation == h % p.dilation;
        q_doc[size_t(i)] = on ? int32_t(i / p.segment) : int32_t(-1 - i);
        k_doc[size_t(i)] = on ? int32_t(i / p.segment) : int32_t(-1000000 - i);
      }
      AttentionSpec a;
      a.mask = MaskKind::causal;
      a.q_doc_ids = q_doc.data();
      a.k_doc_ids = k_doc.data();
      const ForwardProblem prob = make_forward_problem(in.q.view, in.k.view, in.v.view, a);
      const reference::Forward f = reference::forward(prob);
      for (int64_t i = 0; i < N; ++i) {
        const double l = f.lse[size_t(h * N + i)];
        double& acc_l = lse[size_t(h * N + i)];
        const double hi = std::max(acc_l, l);
        if (hi == kMinusInf) continue;
        const double merged = hi + std::log(std::exp(acc_l - hi) + std::exp(l - hi));
        double* o = &out[size_t((i * H + h) * DV)];
        const double* o_p = &f.out[size_t((i * H + h) * DV)];
        for (int64_t e = 0; e < DV; ++e)
          o[e] = o[e] * std::exp(acc_l - merged) + o_p[e] * std::exp(l - merged);
        acc_l = merged;
      }
    }
  EXPECT_TRUE(rows_close(brute.out, out, DV, 1e-12, "out"));
  EXPECT_TRUE(lse_close(brute.lse, lse, 1e-12));
}

// The library's oracle (used by `longctx attn --check`) enumerates lattices instead of testing
// every pair; it must equal the brute force, forward and backward, also on sampled rows.
TEST(DilatedOracle, LibraryOracleEqualsBruteForce) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  for (bool causal : {true, false}) {
    DilatedCase d;
    d.n = 67;
    d.heads = 6;
    d.kv_heads = 2;
    d.dim = 32;
    d.causal = causal;
    d.patterns = {{5, 1}, {12, 2}, {30, 4}, {100, 6}};
    const AttentionCase c = as_attention_case(d);
    AttentionInputs in(c, seed);
    DilatedSpec spec;
    spec.patterns = d.patterns;
    spec.causal = causal;
    const MixtureOracle brute = brute_force(in, spec);
    const reference::Forward f =
        sparse::dilated_reference_forward(in.q.view, in.k.view, in.v.view, spec);
    const reference::Backward g =
        sparse::dilated_reference_backward(in.q.view, in.k.view, in.v.view, in.dout.view, spec);
    EXPECT_TRUE(rows_close(f.out, brute.out, c.dv(), 1e-12, "out"));
    EXPECT_TRUE(lse_close(f.lse, brute.lse, 1e-12));
    EXPECT_TRUE(rows_close(g.dq, brute.dq, c.dim, 1e-12, "dq"));
    EXPECT_TRUE(rows_close(g.dk, brute.dk, c.dim, 1e-12, "dk"));
    EXPECT_TRUE(rows_close(g.dv, brute.dv, c.dv(), 1e-12, "dv"));
    const std::vector<int64_t> rows = {0, 3, 17, 66};
    const reference::Backward sampled = sparse::dilated_reference_backward(
        in.q.view, in.k.view, in.v.view, in.dout.view, spec, rows);
    for (int64_t b = 0; b < d.batch; ++b)
      for (int64_t i : rows)
        for (int64_t e = 0; e < d.heads * d.dim; ++e) {
          const size_t at = size_t((b * d.n + i) * d.heads * d.dim + e);
          EXPECT_NEAR(sampled.dq[at], g.dq[at], 1e-12);
        }
  }
}

// The oracle's gradient formulas (the brute force's too) against central finite differences of
// f = Σ O·dO computed by the oracle's own forward, in float64.
TEST(DilatedOracle, GradientMatchesFiniteDifferences) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  DilatedSpec spec;
  spec.patterns = {{4, 1}, {8, 2}, {16, 4}};
  const int64_t n = 23, heads = 4, kv_heads = 2, dim = 32;
  Operand q = random_operand(DType::f32, 1, n, heads, dim, rng);
  Operand k = random_operand(DType::f32, 1, n, kv_heads, dim, rng);
  Operand v = random_operand(DType::f32, 1, n, kv_heads, dim, rng);
  Operand dout = random_operand(DType::f32, 1, n, heads, dim, rng);
  const std::vector<double> w = to_f64(dout.view);
  const auto objective = [&] {
    const reference::Forward f = sparse::dilated_reference_forward(q.view, k.view, v.view, spec);
    double sum = 0.0;
    for (size_t e = 0; e < f.out.size(); ++e) sum += f.out[e] * w[e];
    return sum;
  };
  const reference::Backward g =
      sparse::dilated_reference_backward(q.view, k.view, v.view, dout.view, spec);
  // float32 storage: a step of 2^-8 keeps the perturbation exact; the objective is smooth.
  const float h = 1.0f / 256;
  for (auto [t, grad] : {std::pair{&q, &g.dq}, std::pair{&k, &g.dk}, std::pair{&v, &g.dv}}) {
    float* data = t->storage.data<float>();
    for (int trial = 0; trial < 12; ++trial) {
      const int64_t e = rng.uniform_int(0, t->storage.numel() - 1);
      const float x = data[e];
      data[e] = x + h;
      const double up = objective();
      data[e] = x - h;
      const double down = objective();
      data[e] = x;
      const double numeric = (up - down) / (2.0 * h);
      EXPECT_NEAR((*grad)[size_t(e)], numeric, 2e-4 * std::max(1.0, std::abs(numeric)))
          << "element " << e;
    }
  }
}

TEST(DilatedPlan, PairCountEqualsPredicateCount) {
  for (bool causal : {true, false}) {
    DilatedSpec spec;
    spec.causal = causal;
    spec.patterns = {{7, 1}, {16, 3}, {40, 6}, {100, 12}};
    const int64_t n = 119, heads = 13;
    int64_t brute = 0;
    for (const DilatedPattern& p : spec.patterns)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) brute += sparse::dilated_visible(p, causal, h, i, j);
    EXPECT_EQ(sparse::dilated_pair_count(spec, n, heads), brute) << "causal " << causal;
  }
}

TEST(DilatedPlan, CostFallsWithDilation) {
  // Σ N·w/r² (causal: about half): the LongNet settings at N = 65536 cost far less than dense.
  DilatedSpec spec;
  spec.patterns = sparse::longnet_patterns();
  const int64_t n = 65536;
  const double pairs = double(sparse::dilated_pair_count(spec, n, 12)) / 12.0;
  double expected = 0;
  for (const DilatedPattern& p : spec.patterns)
    expected += 0.5 * double(n) * double(p.segment) / double(p.dilation * p.dilation);
  EXPECT_NEAR(pairs / expected, 1.0, 0.01);
  // Σ w/r² = 4266 of the 65536 keys a causal row has on average twice: 6.5% of dense causal.
  EXPECT_LT(pairs, 0.07 * 0.5 * double(n) * double(n));
}

void expect_patterns_error(const std::string& text) {
  try {
    sparse::parse_dilated_patterns(text, "--segments");
    FAIL() << "no error for '" << text << "'";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--segments") << text;
  }
}

TEST(DilatedSpecErrors, BadPatternsAreRejected) {
  EXPECT_EQ(sparse::parse_dilated_patterns("2048:1,4096:2,8192:4").size(), 3u);
  for (const char* bad : {"", "2048", "2048:1,", "2048:0", "4:8", "2048:1,1024:2", "2048:1,2048:2",
                          "a:1", "2048:1x", "-5:1", "16:2,,32:4"})
    expect_patterns_error(bad);
  DilatedSpec empty;
  try {
    sparse::validate_dilated(empty);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "patterns");
  }
}

TEST(DilatedSpecErrors, CrossAttentionAndBadShapesAreRejected) {
  Rng rng(fresh_seed());
  Operand q = random_operand(DType::f32, 1, 40, 2, 32, rng);
  Operand k = random_operand(DType::f32, 1, 50, 2, 32, rng);
  Operand v = random_operand(DType::f32, 1, 50, 2, 32, rng);
  DilatedSpec spec;
  spec.patterns = {{8, 1}};
  try {
    sparse::dilated_forward(q.view, k.view, v.view, spec);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "k");
  }
  Operand k2 = random_operand(DType::f32, 1, 40, 3, 32, rng);
  Operand v2 = random_operand(DType::f32, 1, 40, 3, 32, rng);
  EXPECT_THROW(sparse::dilated_forward(q.view, k2.view, v2.view, spec), ArgumentError);
}

}  // namespace
}  // namespace longctx::test
