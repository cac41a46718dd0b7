// Builds and checks one attention test case (see attention_case.hpp).
#include "attention_case.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "longctx/attn/problem.hpp"
#include "reference/reference.hpp"
#ifdef LONGCTX_HAS_CUDA
#include "device_runner.hpp"
#endif

namespace longctx::test {
namespace {

// Global positions the spec resolves to (needed to lay documents over the position axis).
std::vector<int64_t> resolved_positions(const std::optional<Positions>& p, int64_t rows,
                                        int64_t default_offset) {
  std::vector<int64_t> out(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) out[size_t(i)] = p ? p->at(i) : default_offset + i;
  return out;
}

// Splits [lo, hi] into consecutive random segments; returns the segment id of each position.
std::vector<int32_t> segment_ids(int64_t lo, int64_t hi, Rng& rng) {
  const int64_t span = hi - lo + 1;
  const int64_t max_len = std::max<int64_t>(1, span / 3);
  std::vector<int32_t> ids(static_cast<size_t>(span));
  int32_t doc = 0;
  for (int64_t p = 0; p < span;) {
    const int64_t len = rng.uniform_int(1, max_len);
    for (int64_t e = p; e < std::min(span, p + len); ++e) ids[size_t(e)] = doc;
    p += len;
    ++doc;
  }
  return ids;
}

double max_row_norm(const TensorView& t) {  // max over (b, row, head) of |t[b, row, head, :]|
  double best = 0.0;
  for (int64_t b = 0; b < t.dim(0); ++b)
    for (int64_t r = 0; r < t.dim(1); ++r)
      for (int64_t h = 0; h < t.dim(2); ++h) {
        double s = 0.0;
        for (int64_t c = 0; c < t.dim(3); ++c) {
          const double x = t.load(b, r, h, c);
          s += x * x;
        }
        best = std::max(best, std::sqrt(s));
      }
  return best;
}

// Rows whose oracle LSE is -inf must come out exactly 0 (and their dQ exactly 0).
::testing::AssertionResult empty_rows_zero(const std::vector<double>& got,
                                           const std::vector<double>& ref_lse,
                                           const AttentionCase& c, int64_t row_len,
                                           const char* what) {
  const int64_t n = c.n, h_count = c.heads;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < h_count; ++h)
      for (int64_t i = 0; i < n; ++i) {
        const double l = ref_lse[size_t((b * h_count + h) * n + i)];
        if (!(std::isinf(l) && l < 0)) continue;
        const size_t base = size_t(((b * n + i) * h_count + h) * row_len);
        for (int64_t e = 0; e < row_len; ++e)
          if (got[base + size_t(e)] != 0.0)
            return ::testing::AssertionFailure()
                   << what << " of fully masked row (b=" << b << ", i=" << i << ", h=" << h
                   << ") is " << got[base + size_t(e)] << " at element " << e << ", expected 0";
      }
  return ::testing::AssertionSuccess();
}

// Key rows that no query sees get no gradient: dK and dV rows exactly 0.
::testing::AssertionResult unseen_keys_zero(const std::vector<double>& got, const ForwardProblem& p,
                                            int64_t row_len, const char* what) {
  const AttentionShape& s = p.shape;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = 0; j < s.m; ++j) {
      bool seen = false;
      for (int64_t i = 0; i < s.n && !seen; ++i) seen = p.mask.visible(b, i, j);
      if (seen) continue;
      for (int64_t g = 0; g < s.kv_heads; ++g) {
        const size_t base = size_t(((b * s.m + j) * s.kv_heads + g) * row_len);
        for (int64_t e = 0; e < row_len; ++e)
          if (got[base + size_t(e)] != 0.0)
            return ::testing::AssertionFailure()
                   << what << " of key row (b=" << b << ", j=" << j << ", g=" << g
                   << ") that no query sees is " << got[base + size_t(e)] << ", expected 0";
      }
    }
  return ::testing::AssertionSuccess();
}

// The public API on host tensors, or through device copies for Backend::cuda.
ForwardResult run_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                          const AttentionSpec& spec, const AttentionOptions& o) {
#ifdef LONGCTX_HAS_CUDA
  if (o.backend == Backend::cuda) return device_forward(q, k, v, spec, o);
#endif
  return attention_forward(q, k, v, spec, o);
}
BackwardResult run_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                            const TensorView& out, const TensorView& lse, const TensorView& dout,
                            const AttentionSpec& spec, const AttentionOptions& o) {
#ifdef LONGCTX_HAS_CUDA
  if (o.backend == Backend::cuda) return device_backward(q, k, v, out, lse, dout, spec, o);
#endif
  return attention_backward(q, k, v, out, lse, dout, spec, o);
}

}  // namespace

std::string AttentionCase::describe() const {
  std::ostringstream os;
  os << name << ": B=" << batch << " N=" << n << " M=" << m << " H=" << heads << " G=" << kv_heads
     << " D=" << dim << " DV=" << dv() << " " << dtype_name(dtype)
     << (heads_major ? " [B,H,N,D]" : "")
     << " mask=" << (mask == MaskKind::causal ? "causal" : "full");
  if (window) os << " window(" << window->left << "," << window->right << ")";
  if (docs != Docs::none) os << (docs == Docs::packed ? " docs" : " docs(mismatched)");
  if (positions != PositionMode::automatic)
    os << " positions="
       << (positions == PositionMode::offsets  ? "offsets"
           : positions == PositionMode::zigzag ? "zigzag"
                                               : "random")
       << "(" << q_offset << "," << k_offset << ")";
  if (scale != 0.f) os << " scale=" << scale;
  if (input_stddev != 1.f) os << " stddev=" << input_stddev;
  os << " threads=" << options.threads << " block=" << options.block_q << "x" << options.block_k;
  if (options.backend == Backend::reference) os << " backend=reference";
  return os.str();
}

AttentionInputs::AttentionInputs(const AttentionCase& c, uint64_t seed) {
  Rng rng(seed);
  const int64_t B = c.batch, N = c.n, M = c.m;
  q = random_operand(c.dtype, B, N, c.heads, c.dim, rng, c.input_stddev, c.heads_major);
  k = random_operand(c.dtype, B, M, c.kv_heads, c.dim, rng, c.input_stddev, c.heads_major);
  v = random_operand(c.dtype, B, M, c.kv_heads, c.dv(), rng, 1.f, c.heads_major);
  dout = random_operand(c.dtype, B, N, c.heads, c.dv(), rng, 1.f, c.heads_major);

  spec.scale = c.scale;
  spec.mask = c.mask;
  spec.window = c.window;
  switch (c.positions) {
    case PositionMode::automatic:
      break;
    case PositionMode::offsets:
      spec.q_positions = Positions::from_offset(c.q_offset);
      spec.k_positions = Positions::from_offset(c.k_offset);
      break;
    case PositionMode::zigzag: {
      const int64_t first = N / 2;
      for (int64_t i = 0; i < N; ++i)
        q_pos.push_back(i < first ? i : M - (N - first) / 2 + (i - first));
      for (int64_t j = 0; j < M; ++j) k_pos.push_back(j);
      break;
    }
    case PositionMode::random:
      for (int64_t i = 0; i < N; ++i) q_pos.push_back(rng.uniform_int(-M / 4, M + M / 4));
      for (int64_t j = 0; j < M; ++j) k_pos.push_back(rng.uniform_int(0, M - 1));
      break;
  }
  if (!q_pos.empty()) {
    spec.q_positions = Positions::from_array(q_pos.data());
    spec.k_positions = Positions::from_array(k_pos.data());
  }

  if (c.docs != Docs::none) {
    const std::vector<int64_t> qp = resolved_positions(spec.q_positions, N, M - N);
    const std::vector<int64_t> kp = resolved_positions(spec.k_positions, M, 0);
    const int64_t lo =
        std::min(*std::min_element(qp.begin(), qp.end()), *std::min_element(kp.begin(), kp.end()));
    const int64_t hi =
        std::max(*std::max_element(qp.begin(), qp.end()), *std::max_element(kp.begin(), kp.end()));
    for (int64_t b = 0; b < B; ++b) {  // every batch gets its own packing
      const std::vector<int32_t> ids = segment_ids(lo, hi, rng);
      for (int64_t i = 0; i < N; ++i) {
        int32_t id = ids[size_t(qp[size_t(i)] - lo)];
        if (c.docs == Docs::mismatched && rng.uniform_int(0, 4) == 0) id = 1000000 + int32_t(i);
        q_docs.push_back(id);
      }
      for (int64_t j = 0; j < M; ++j) k_docs.push_back(ids[size_t(kp[size_t(j)] - lo)]);
    }
    spec.q_doc_ids = q_docs.data();
    spec.k_doc_ids = k_docs.data();
  }
  if (c.customize_spec) c.customize_spec(spec);
}

CaseTolerance case_tolerance(const AttentionCase& c, const AttentionInputs& in) {
  const double scale = c.scale != 0.f ? c.scale : 1.0 / std::sqrt(double(c.dim));
  const double logit_bound = scale * max_row_norm(in.q.view) * max_row_norm(in.k.view);
  constexpr double kEpsF32 = 1.0 / (1 << 24);
  CaseTolerance t;
  t.lse = std::max(tolerance(DType::f32), 4.0 * kEpsF32 * logit_bound);
  t.values = std::max(tolerance(c.dtype), t.lse);
  const double dv_root = std::sqrt(double(c.dv()));
  const double dout_norm = rms(in.dout.view) * dv_root, v_norm = rms(in.v.view) * dv_root;
  t.floor_out = 0.1 * rms(in.v.view);
  // A key row of dK/dV sums about (H/G)·N/M query rows' contributions; their rounding noise
  // adds up like a random walk.
  const double key_terms = std::sqrt(std::max(1.0, double(c.heads / c.kv_heads) * c.n / c.m));
  t.floor_dv = 0.1 * rms(in.dout.view) * key_terms;
  // The backward gets O rounded to the storage dtype (unit roundoff u), which perturbs
  // D_i = dO_i·O_i by up to u |dO| |O|: the dQ/dK floor must cover that as well.
  const double u = c.dtype == DType::bf16 ? 0x1p-8 : c.dtype == DType::f16 ? 0x1p-11 : 0x1p-24;
  const double grad_floor = std::max(0.1, 2 * u / t.values);
  t.floor_dq = grad_floor * scale * dout_norm * v_norm * rms(in.k.view);
  t.floor_dk = grad_floor * scale * dout_norm * v_norm * rms(in.q.view) * key_terms;
  return t;
}

void check_attention_case(const AttentionCase& c) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(c.describe() + ", " + seed_note(seed));
  AttentionInputs in(c, seed);
  const CaseTolerance t = case_tolerance(c, in);
  const double tol = t.values;

  ForwardResult fwd = run_forward(in.q.view, in.k.view, in.v.view, in.spec, c.options);
  const ForwardProblem problem = make_forward_problem(in.q.view, in.k.view, in.v.view, in.spec);
  const reference::Forward ref = reference::forward(problem);
  const std::vector<double> out = to_f64(fwd.out);
  EXPECT_TRUE(rows_close(out, ref.out, c.dv(), tol, "out", t.floor_out));
  EXPECT_TRUE(lse_close(to_f64(fwd.lse), ref.lse, t.lse));
  EXPECT_TRUE(empty_rows_zero(out, ref.lse, c, c.dv(), "out"));
  if (!c.backward) return;

  BackwardResult bwd = run_backward(in.q.view, in.k.view, in.v.view, fwd.out, fwd.lse, in.dout.view,
                                    in.spec, c.options);
  const BackwardProblem bproblem = make_backward_problem(in.q.view, in.k.view, in.v.view, fwd.out,
                                                         fwd.lse, in.dout.view, in.spec);
  const reference::Backward refb = reference::backward(bproblem);
  const std::vector<double> dq = to_f64(bwd.dq);
  EXPECT_TRUE(rows_close(dq, refb.dq, c.dim, tol, "dq", t.floor_dq));
  const std::vector<double> dk = to_f64(bwd.dk), dv = to_f64(bwd.dv);
  EXPECT_TRUE(rows_close(dk, refb.dk, c.dim, tol, "dk", t.floor_dk));
  EXPECT_TRUE(rows_close(dv, refb.dv, c.dv(), tol, "dv", t.floor_dv));
  EXPECT_TRUE(empty_rows_zero(dq, ref.lse, c, c.dim, "dq"));
  EXPECT_TRUE(unseen_keys_zero(dk, problem, c.dim, "dk"));
  EXPECT_TRUE(unseen_keys_zero(dv, problem, c.dv(), "dv"));
}

}  // namespace longctx::test
