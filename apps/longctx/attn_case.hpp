// One attention problem set up for measurement: the configuration, random inputs in the chosen
// memory layout, output buffers, and timed forward / backward calls through the public API.
// Shared by `longctx attn`, `longctx demo` and the benchmark programs in bench/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "attn_case_device.hpp"
#include "longctx/attention.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/dilated.hpp"

namespace longctx::app {

// Physical order of the [batch, seq, heads, dim] tensors in memory. The API takes strides, so
// both are the same logical tensor; bhnd checks that kernels do not assume one order.
enum class Layout : uint8_t { bnhd, bhnd };
Layout parse_layout(const std::string& text);  // "bnhd" | "bhnd"; ArgumentError otherwise
const char* layout_name(Layout l);

struct AttnConfig {
  int64_t batch = 1;
  int64_t seq = 1;       // N, query rows
  int64_t seq_k = 0;     // M, key rows (0: same as seq)
  int64_t heads = 1;     // H query heads
  int64_t kv_heads = 0;  // G key/value heads (0: same as heads)
  int64_t dim = 64;      // D
  int64_t dim_v = 0;     // DV (0: same as dim)
  MaskKind mask = MaskKind::full;
  std::optional<Window> window;
  DType dtype = DType::f32;
  Layout layout = Layout::bnhd;
  Backend backend = Backend::cpu;
  int threads = 0;  // 0: OpenMP default
  int block_q = 0;  // 0: backend's choice
  int block_k = 0;
  uint64_t seed = 0;
  // Sparse masks of issue 3 (attn_sparse_flags.hpp): global tokens with the window, a
  // block-sparse grid over positions, or a dilated mixture (which replaces `mask`).
  int64_t global_tokens = 0;
  std::shared_ptr<const BlockSparseGrid> block_sparse;
  std::optional<sparse::DilatedSpec> dilated;

  // Fills the "same as" defaults (seq_k, kv_heads, dim_v) in place.
  AttnConfig& resolve_defaults();
  AttentionSpec spec() const;
  AttentionOptions options() const;
  std::string mask_description() const;  // "causal", "full window(64,0)", ...
};

// Floating-point work of one call, SPEC §1 convention: only visible (query, key) pairs count;
// forward = 2·pairs·H·D (Q·Kᵀ) + 2·pairs·H·DV (P·V); backward = 2.5 × forward.
struct FlopCount {
  int64_t visible_pairs = 0;  // summed over the batch, per head
  double forward = 0.0;
  double backward = 0.0;
};
FlopCount attention_flops(const AttnConfig& c);

// Bytes a naive implementation needs for one materialised float32 score matrix of the whole
// problem, B·H·N·M·4 (the softmax probabilities of the same size come on top of this).
double naive_score_bytes(const AttnConfig& c);

// A logical [B, rows, heads, dim] tensor stored in `layout` order (the API takes strides, so
// both orders are the same logical tensor).
struct LaidTensor {
  Tensor storage;
  TensorView view;  // logical [B, rows, heads, dim]
};
LaidTensor make_laid_tensor(DType dtype, Layout layout, int64_t b, int64_t rows, int64_t heads,
                            int64_t dim);

// Inputs and outputs of one problem. The constructor allocates q, k, v (N(0, 1) values from
// `config.seed`, rounded to the dtype), out and lse. The backward buffers (dout, dq, dk, dv) are
// allocated on the first run_backward, so a forward-only run's peak memory does not include them.
class AttnCase {
 public:
  explicit AttnCase(AttnConfig config);

  const AttnConfig& config() const { return config_; }
  // Time one call in milliseconds (outputs land in out()/lse() and dq()/dk()/dv()).
  double run_forward();
  double run_backward();  // runs a forward first if none has run (it needs out and lse)
  bool has_forward() const { return has_forward_; }

  // Logical views: q [B,N,H,D], k [B,M,G,D], v [B,M,G,DV], out/dout [B,N,H,DV], lse [B,H,N],
  // dq [B,N,H,D], dk [B,M,G,D], dv [B,M,G,DV].
  const TensorView& q() const { return q_.view; }
  const TensorView& k() const { return k_.view; }
  const TensorView& v() const { return v_.view; }
  const TensorView& out() const { return out_.view; }
  const TensorView& lse() const { return lse_.view(); }
  const TensorView& dout() const { return dout_.view; }
  const TensorView& dq() const { return dq_.view; }
  const TensorView& dk() const { return dk_.view; }
  const TensorView& dv() const { return dv_.view; }

  // Bytes of the tensors this case holds (inputs, outputs and gradients).
  int64_t tensor_bytes() const;

 private:
  AttnConfig config_;
  AttentionSpec spec_;
  AttentionOptions options_;
  LaidTensor q_, k_, v_, out_, dout_, dq_, dk_, dv_;
  Tensor lse_;  // [B, H, N] float32
  bool has_forward_ = false;
  DeviceRunPtr device_;  // Backend::cuda: device copies of the tensors above
};

}  // namespace longctx::app
