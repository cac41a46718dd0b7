// The CPU kernels' workspace estimates (cpu::forward_workspace_bytes, backward_workspace_bytes)
// against what the kernels actually allocate: the growth of the library's workspace counter
// (workspace_bytes_peak after workspace_reset_peak) during one call must equal the estimate to
// the byte, on MHA / GQA / MQA shapes, full / causal / window / document masks, f32 and bf16
// (Q and dO read in place or packed), 1 and 2 threads, odd sizes and explicit block sizes.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cpu/cpu_attention.hpp"
#include "longctx/attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "test_util.hpp"

namespace longctx {
namespace {

struct WorkspaceCase {
  std::string name;
  AttentionShape shape;  // batch, n, m, heads, kv_heads, dim, dim_v
  DType dtype = DType::f32;
  MaskKind mask = MaskKind::full;
  std::optional<Window> window;
  bool documents = false;  // two documents per sequence, split at different rows per batch
  int threads = 1;
  int block_q = 0, block_k = 0;
};

void PrintTo(const WorkspaceCase& c, std::ostream* os) {
  *os << c.name;
}

class CpuWorkspace : public ::testing::TestWithParam<WorkspaceCase> {};

TEST_P(CpuWorkspace, CounterGrowthEqualsEstimate) {
  const WorkspaceCase& c = GetParam();
  const AttentionShape& s = c.shape;
  Rng rng(20240611);
  test::Operand q = test::random_operand(c.dtype, s.batch, s.n, s.heads, s.dim, rng);
  test::Operand k = test::random_operand(c.dtype, s.batch, s.m, s.kv_heads, s.dim, rng);
  test::Operand v = test::random_operand(c.dtype, s.batch, s.m, s.kv_heads, s.dim_v, rng);
  test::Operand dout = test::random_operand(c.dtype, s.batch, s.n, s.heads, s.dim_v, rng);

  std::vector<int32_t> q_docs(size_t(s.batch * s.n)), k_docs(size_t(s.batch * s.m));  // [B, N]
  AttentionSpec spec;
  spec.mask = c.mask;
  spec.window = c.window;
  if (c.documents) {
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t i = 0; i < s.n; ++i) q_docs[size_t(b * s.n + i)] = i < s.n / (b + 2) ? 0 : 1;
      for (int64_t j = 0; j < s.m; ++j) k_docs[size_t(b * s.m + j)] = j < s.m / (b + 2) ? 0 : 1;
    }
    spec.q_doc_ids = q_docs.data();
    spec.k_doc_ids = k_docs.data();
  }
  AttentionOptions options;
  options.threads = c.threads;
  options.block_q = c.block_q;
  options.block_k = c.block_k;
  const cpu::CpuOptions cpu_options{c.threads, c.block_q, c.block_k};

  const int64_t before = workspace_bytes_current();
  workspace_reset_peak();
  ForwardResult f = attention_forward(q.view, k.view, v.view, spec, options);
  EXPECT_EQ(workspace_bytes_peak() - before, cpu::forward_workspace_bytes(s, cpu_options));
  EXPECT_EQ(workspace_bytes_current(), before) << "forward left workspace allocated";

  workspace_reset_peak();
  BackwardResult g =
      attention_backward(q.view, k.view, v.view, f.out, f.lse, dout.view, spec, options);
  const ResolvedMask mask = resolve_mask(spec, s.n, s.m);
  EXPECT_EQ(workspace_bytes_peak() - before,
            cpu::backward_workspace_bytes(s, c.dtype, mask, cpu_options));
  EXPECT_EQ(workspace_bytes_current(), before) << "backward left workspace allocated";
}

// name, shape {B, N, M, H, G, D, DV}, dtype, mask, window, documents, threads, block_q, block_k.
std::vector<WorkspaceCase> cases() {
  constexpr auto f32 = DType::f32, bf16 = DType::bf16;
  constexpr auto full = MaskKind::full, causal = MaskKind::causal;
  const std::optional<Window> none;
  return {
      // MHA, odd sizes, f32 with D = 64 (Q and dO read in place).
      {"mha_full_f32_1t", {1, 77, 77, 2, 2, 64, 64}, f32, full, none, false, 1, 0, 0},
      {"mha_causal_f32_2t", {2, 131, 131, 3, 3, 64, 64}, f32, causal, none, false, 2, 0, 0},
      // f32 with D, DV not multiples of 16: Q and dO are packed.
      {"mha_causal_f32_d40_2t", {1, 97, 97, 2, 2, 40, 48}, f32, causal, none, false, 2, 0, 0},
      // bf16: always packed.
      {"gqa_causal_bf16_1t", {1, 200, 200, 8, 2, 64, 64}, bf16, causal, none, false, 1, 0, 0},
      {"gqa_window_bf16_2t",
       {2, 257, 257, 4, 2, 32, 32},
       bf16,
       causal,
       Window{40, 0},
       false,
       2,
       0,
       0},
      // MQA with one (batch, KV head) pair: the backward splits the group (per-split dK, dV).
      {"mqa_full_f32_2t", {1, 150, 150, 8, 1, 64, 64}, f32, full, none, false, 2, 0, 0},
      {"mqa_causal_bf16_1t", {1, 333, 333, 6, 1, 48, 48}, bf16, causal, none, false, 1, 0, 0},
      // N != M (bottom-right aligned causal), document ids (one layout per batch).
      {"cross_causal_f32_2t", {1, 61, 190, 4, 4, 64, 64}, f32, causal, none, false, 2, 0, 0},
      {"docs_causal_f32_2t", {2, 180, 180, 4, 2, 64, 64}, f32, causal, none, true, 2, 0, 0},
      // Explicit, small blocks (many key chunks) and blocks larger than the sequence.
      {"blocks_32x16_f32_2t", {1, 123, 123, 2, 2, 64, 64}, f32, causal, none, false, 2, 32, 16},
      {"blocks_256x256_bf16_1t", {1, 90, 90, 2, 1, 64, 64}, bf16, full, none, false, 1, 256, 256},
  };
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuWorkspace, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(CpuWorkspaceEstimate, RejectsMaskOfOtherSizesAndBadBlocks) {
  const AttentionShape s{1, 64, 64, 2, 2, 64, 64};
  const ResolvedMask other = resolve_mask(AttentionSpec{}, 32, 64);
  EXPECT_THROW(cpu::backward_workspace_bytes(s, DType::f32, other, {}), ArgumentError);
  const ResolvedMask mask = resolve_mask(AttentionSpec{}, 64, 64);
  EXPECT_THROW(cpu::backward_workspace_bytes(s, DType::f32, mask, {1, 12, 0}), ArgumentError);
  EXPECT_THROW(cpu::forward_workspace_bytes(s, {1, -8, 0}), ArgumentError);
}

TEST(CpuWorkspaceEstimate, GrowsWithThreadsByPerThreadScratchOnly) {
  // Per-thread tiles are the only thread-dependent part: the work split, hence the dQ
  // accumulators, must not depend on the thread count (determinism, backward.cpp).
  const AttentionShape s{1, 300, 300, 4, 4, 64, 64};
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  const ResolvedMask mask = resolve_mask(spec, s.n, s.m);
  const auto fwd = [&](int t) { return cpu::forward_workspace_bytes(s, {t, 0, 0}); };
  const auto bwd = [&](int t) {
    return cpu::backward_workspace_bytes(s, DType::f32, mask, {t, 0, 0});
  };
  EXPECT_GT(fwd(2), fwd(1));
  EXPECT_EQ(fwd(3) - fwd(2), fwd(2) - fwd(1));
  EXPECT_GT(bwd(2), bwd(1));
  EXPECT_EQ(bwd(3) - bwd(2), bwd(2) - bwd(1));
}

}  // namespace
}  // namespace longctx
