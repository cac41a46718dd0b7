// Shared by the dist tests (in-process gtest and the mpirun checker): one distributed problem —
// full random inputs, the single-process result they must equal, and a comparison of one rank's
// rows against it. Every rank builds the same full inputs from the same seed, so no gather is
// needed to check a rank's share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "longctx/attention.hpp"
#include "longctx/dist/parallel_attention.hpp"

namespace longctx::dist::test {

struct DistCase {
  std::string parallel = "ring";  // --parallel name
  int ranks = 2;
  int64_t batch = 1, n = 48, heads = 4, kv_heads = 2, dim = 32, dim_v = 32;
  MaskKind mask = MaskKind::causal;
  std::optional<Window> window;
  DType dtype = DType::f32;
  bool backward = true;
  // cuda: the reference is the single-GPU CUDA backend and the schedules run on the device
  // (comm must then be a device communicator).
  Backend backend = Backend::cpu;
  std::string describe() const;
  AttentionSpec spec() const;
};

// Full inputs [B, N, H, D] ... and the single-process results (CPU kernel, or the CUDA kernels
// on one GPU for Backend::cuda) they must equal.
struct DistReference {
  DistReference(const DistCase& c, uint64_t seed);
  Tensor q, k, v, dout;  // inputs
  Tensor out, lse;       // forward: [B, N, H, DV] (dtype), [B, H, N] f32
  Tensor dq, dk, dv;     // backward (when c.backward)
};

// This rank's results, compared with the reference's rows: max relative error per tensor
// (max |x − ref| / max(max |ref|, floor) over the rank's rows, LSE per entry / max(1, |ref|)).
struct RankErrors {
  double out = 0, lse = 0, dq = 0, dk = 0, dv = 0;
  double worst() const;
};

// Runs forward (and backward) of the case on this rank of comm and compares with ref.
// stats_fwd / stats_bwd receive the rank's statistics when given.
RankErrors run_and_compare(Communicator& comm, const DistCase& c, const DistReference& ref,
                           RankStats* stats_fwd = nullptr, RankStats* stats_bwd = nullptr);

// Tolerance of a case's comparison: float32 rounding of a different summation order, or one
// storage rounding of bf16/f16 outputs (two on the GPU, whose partials are stored in bf16 / f16
// before the float32 merge). LSE: relative, float32 only.
double dist_tolerance(DType t);
double lse_tolerance(Backend b);

}  // namespace longctx::dist::test
