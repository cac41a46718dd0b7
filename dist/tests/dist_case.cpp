// One distributed problem checked against single-process attention (see dist_case.hpp).
#include "dist_case.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "device_call.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/dist/layout.hpp"

namespace longctx::dist::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// max |got − ref| / max(max |ref|, floor) over all elements of two same-shape views.
double tensor_error(const TensorView& got, const TensorView& ref, double floor) {
  double diff = 0, scale = 0;
  const int64_t d3 = got.rank == 4 ? got.dim(3) : 1;
  for (int64_t a = 0; a < got.dim(0); ++a)
    for (int64_t b = 0; b < got.dim(1); ++b)
      for (int64_t c = 0; c < got.dim(2); ++c)
        for (int64_t e = 0; e < d3; ++e) {
          const int64_t go = a * got.stride(0) + b * got.stride(1) + c * got.stride(2) +
                             (got.rank == 4 ? e * got.stride(3) : 0);
          const int64_t ro = a * ref.stride(0) + b * ref.stride(1) + c * ref.stride(2) +
                             (ref.rank == 4 ? e * ref.stride(3) : 0);
          const double x = load_as_f32(got.data, got.dtype, go);
          const double r = load_as_f32(ref.data, ref.dtype, ro);
          if (!std::isfinite(x)) return kInf;
          diff = std::max(diff, std::abs(x - r));
          scale = std::max(scale, std::abs(r));
        }
  return diff / std::max(scale, floor);
}

double lse_error(const TensorView& got, const TensorView& ref) {
  double worst = 0;
  const float* g = static_cast<const float*>(got.data);
  const float* r = static_cast<const float*>(ref.data);
  for (int64_t i = 0; i < got.numel(); ++i) {
    const bool ge = std::isinf(g[i]) && g[i] < 0, re = std::isinf(r[i]) && r[i] < 0;
    if (ge != re || std::isnan(g[i])) return kInf;
    if (!re)
      worst =
          std::max(worst, std::abs(double(g[i]) - r[i]) / std::max(1.0, std::abs(double(r[i]))));
  }
  return worst;
}

}  // namespace

std::string DistCase::describe() const {
  std::ostringstream os;
  os << parallel << " P=" << ranks << " B=" << batch << " N=" << n << " H=" << heads
     << " G=" << kv_heads << " D=" << dim << " DV=" << dim_v << " "
     << (mask == MaskKind::causal ? "causal" : "full");
  if (window) os << " window(" << window->left << "," << window->right << ")";
  os << " " << dtype_name(dtype);
  if (backend == Backend::cuda) os << " cuda";
  return os.str();
}

AttentionSpec DistCase::spec() const {
  AttentionSpec s;
  s.mask = mask;
  s.window = window;
  return s;
}

double RankErrors::worst() const {
  return std::max({out, lse, dq, dk, dv});
}

double dist_tolerance(DType t) {
  return t == DType::f32 ? 2e-5 : 1.6e-2;
}

double lse_tolerance(Backend b) {
  return b == Backend::cuda ? 1e-4 : 1e-5;
}

DistReference::DistReference(const DistCase& c, uint64_t seed)
    : q(c.dtype, {c.batch, c.n, c.heads, c.dim}),
      k(c.dtype, {c.batch, c.n, c.kv_heads, c.dim}),
      v(c.dtype, {c.batch, c.n, c.kv_heads, c.dim_v}),
      dout(c.dtype, {c.batch, c.n, c.heads, c.dim_v}),
      out(c.dtype, {c.batch, c.n, c.heads, c.dim_v}),
      lse(DType::f32, {c.batch, c.heads, c.n}) {
  Rng rng(seed);
  fill_normal(q, rng);
  fill_normal(k, rng);
  fill_normal(v, rng);
  fill_normal(dout, rng);
  AttentionOptions opt{Backend::cpu, 1, 0, 0};
  opt.backend = c.backend;
  run_on(c.backend, {q, k, v}, {out, lse}, [&](const ViewList& in, const ViewList& o) {
    attention_forward(in[0], in[1], in[2], c.spec(), o[0], o[1], opt);
  });
  if (!c.backward) return;
  dq = Tensor(c.dtype, {c.batch, c.n, c.heads, c.dim});
  dk = Tensor(c.dtype, {c.batch, c.n, c.kv_heads, c.dim});
  dv = Tensor(c.dtype, {c.batch, c.n, c.kv_heads, c.dim_v});
  run_on(c.backend, {q, k, v, out, lse, dout}, {dq, dk, dv},
         [&](const ViewList& in, const ViewList& o) {
           attention_backward(in[0], in[1], in[2], in[3], in[4], in[5], c.spec(), o[0], o[1], o[2],
                              opt);
         });
}

RankErrors run_and_compare(Communicator& comm, const DistCase& c, const DistReference& ref,
                           RankStats* stats_fwd, RankStats* stats_bwd) {
  const ParallelConfig cfg = parse_parallel(c.parallel, comm.size());
  ParallelOptions options;
  options.backend = c.backend;
  ParallelAttention pa(comm, cfg, c.n, options);
  const SequenceLayout& L = pa.layout();
  const int r = comm.rank();
  const Tensor q = shard(ref.q, L, r), k = shard(ref.k, L, r), v = shard(ref.v, L, r);
  const int64_t n = L.rows(r);
  Tensor out(c.dtype, {c.batch, n, c.heads, c.dim_v}), lse(DType::f32, {c.batch, c.heads, n});
  out.poison();
  lse.poison();
  const AttentionSpec spec = c.spec();
  run_on(c.backend, {q, k, v}, {out, lse}, [&](const ViewList& in, const ViewList& o) {
    pa.forward(in[0], in[1], in[2], spec, o[0], o[1], stats_fwd);
  });
  RankErrors e;
  e.out = tensor_error(out.view(), shard(ref.out, L, r).view(), 1e-3);
  e.lse = lse_error(lse.view(), shard(ref.lse, L, r, 2).view());
  if (!c.backward) return e;
  // Backward from the reference's own O and LSE rows, so that only the backward is compared.
  const Tensor out_ref = shard(ref.out, L, r), lse_ref = shard(ref.lse, L, r, 2);
  const Tensor dout = shard(ref.dout, L, r);
  Tensor dq(c.dtype, {c.batch, n, c.heads, c.dim}), dk(c.dtype, {c.batch, n, c.kv_heads, c.dim}),
      dv(c.dtype, {c.batch, n, c.kv_heads, c.dim_v});
  dq.poison();
  dk.poison();
  dv.poison();
  run_on(c.backend, {q, k, v, out_ref, lse_ref, dout}, {dq, dk, dv},
         [&](const ViewList& in, const ViewList& o) {
           pa.backward(in[0], in[1], in[2], in[3], in[4], in[5], spec, o[0], o[1], o[2], stats_bwd);
         });
  e.dq = tensor_error(dq.view(), shard(ref.dq, L, r).view(), 1.0);
  e.dk = tensor_error(dk.view(), shard(ref.dk, L, r).view(), 1.0);
  e.dv = tensor_error(dv.view(), shard(ref.dv, L, r).view(), 1.0);
  return e;
}

}  // namespace longctx::dist::test
