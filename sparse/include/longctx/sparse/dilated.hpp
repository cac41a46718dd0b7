// LongNet dilated attention (SPEC §2, arXiv 2307.02486 §2): a mixture of (segment w, dilation r)
// patterns. Pattern (w, r) splits the sequence into segments of w tokens (the last one may be
// shorter); query head h uses offset o = h mod r and, inside each segment starting at s0, the
// rows s0 + o, s0 + o + r, ... attend to each other (causally by default). The patterns' outputs
// are merged with weights proportional to their softmax denominators, i.e. the LSE merge of
// softmax_state.hpp. A row that no pattern covers gets O = 0, LSE = −inf.
//
// Cost: each pattern gathers its dilated rows into compact tensors and runs the dense CPU
// attention on them, so pattern (w, r) costs N·w/r² (halved when causal), not a masked N² pass.
//
// Shapes as attention.hpp, self-attention only (M == N):
//   q [B, N, H, D]  k [B, N, G, D]  v [B, N, G, DV]  out [B, N, H, DV]  lse [B, H, N] f32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "longctx/attention.hpp"

namespace longctx::sparse {

struct DilatedPattern {
  int64_t segment = 0;   // w >= 1
  int64_t dilation = 1;  // r in [1, w]; w need not be a multiple of r
};

struct DilatedSpec {
  std::vector<DilatedPattern> patterns;  // segments strictly increasing
  bool causal = true;                    // causal within segments (LongNet LM); false: full
  float scale = 0.f;                     // 0: 1/sqrt(D)
};

// The LongNet LM settings: w = {2048, 4096, 8192, 16384, 32768}, r = {1, 2, 4, 6, 12}.
std::vector<DilatedPattern> longnet_patterns();

// "2048:1,4096:2,8192:4" -> patterns, validated; `argument` names the input in errors.
std::vector<DilatedPattern> parse_dilated_patterns(const std::string& text,
                                                   const std::string& argument = "patterns");

// Throws ArgumentError naming "patterns" when empty, a segment < 1, a dilation outside
// [1, segment], or segments not strictly increasing.
void validate_dilated(const DilatedSpec& spec);

// Whether query row i sees key row j for query head h under one pattern (the definition above).
bool dilated_visible(const DilatedPattern& p, bool causal, int64_t head, int64_t i, int64_t j);

// (query, key) pairs computed for one batch element, summed over patterns and query heads
// (a pair visible in two patterns counts twice: it is computed twice).
int64_t dilated_pair_count(const DilatedSpec& spec, int64_t n, int64_t heads);

void dilated_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                     const DilatedSpec& spec, const TensorView& out, const TensorView& lse,
                     const AttentionOptions& options = {});
ForwardResult dilated_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                              const DilatedSpec& spec, const AttentionOptions& options = {});

// Gradients of sum(out * dout); out and lse from dilated_forward with the same spec.
void dilated_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                      const TensorView& out, const TensorView& lse, const TensorView& dout,
                      const DilatedSpec& spec, const TensorView& dq, const TensorView& dk,
                      const TensorView& dv, const AttentionOptions& options = {});
BackwardResult dilated_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const TensorView& out, const TensorView& lse,
                                const TensorView& dout, const DilatedSpec& spec,
                                const AttentionOptions& options = {});

}  // namespace longctx::sparse
