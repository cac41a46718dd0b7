// Local + global attention (Longformer / ModernBERT: a sliding window plus n_g global positions
// that see and are seen by all) on the CPU backend against the float64 oracle, forward and
// backward: odd sizes, N != M, GQA, causal and bidirectional windows, documents, explicit
// positions, bf16, 1 and 2 threads, small explicit blocks (global rows and columns cut through
// blocks). Fresh seed per case, printed on failure.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_case.hpp"
#include "longctx/core/error.hpp"

namespace longctx::test {
namespace {

AttentionCase local_global(std::string name, int64_t n, int64_t m, Window w, int64_t globals) {
  AttentionCase c;
  c.name = std::move(name) + " global(" + std::to_string(globals) + ")";
  c.n = sized(n);
  c.m = sized(m);
  c.window = w;
  c.customize_spec = [globals](AttentionSpec& s) { s.global_tokens = globals; };
  return c;
}

std::vector<AttentionCase> all_cases() {
  std::vector<AttentionCase> cases;
  // Bidirectional (encoder) windows, the ModernBERT shape.
  for (int64_t n : {37, 97, 131, 577}) {
    AttentionCase c = local_global("bidirectional_n" + std::to_string(n), n, n, {8, 8}, 5);
    c.heads = 4;
    c.kv_heads = 2;
    cases.push_back(c);
  }
  // Causal windows: global keys act as attention sinks, global queries see every earlier key.
  for (int64_t n : {37, 131, 577}) {
    AttentionCase c = local_global("causal_n" + std::to_string(n), n, n, {16, 0}, 7);
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
  {
    AttentionCase c = local_global("n_ne_m_causal", 97, 131, {12, 3}, 9);
    c.mask = MaskKind::causal;
    c.heads = 8;
    c.kv_heads = 2;
    cases.push_back(c);
  }
  {
    AttentionCase c = local_global("n_gt_m", 131, 97, {20, 20}, 4);
    cases.push_back(c);
  }
  {  // more global tokens than the window spans, a zero-width window
    AttentionCase c = local_global("window0_many_globals", 97, 97, {0, 0}, 40);
    c.mask = MaskKind::causal;
    cases.push_back(c);
  }
  for (int threads : {1, 2}) {
    AttentionCase c = local_global("bf16_threads" + std::to_string(threads), 131, 131, {24, 24}, 6);
    c.dtype = DType::bf16;
    c.heads = 4;
    c.kv_heads = 1;
    c.options.threads = threads;
    cases.push_back(c);
    AttentionCase f = local_global("f32_threads" + std::to_string(threads), 577, 577, {64, 0}, 16);
    f.mask = MaskKind::causal;
    f.options.threads = threads;
    cases.push_back(f);
  }
  {  // blocks of 16 × 24: global rows/columns end inside blocks, many partial blocks
    AttentionCase c = local_global("small_blocks", 131, 131, {10, 5}, 21);
    c.options.block_q = 16;
    c.options.block_k = 24;
    cases.push_back(c);
  }
  {
    AttentionCase c = local_global("documents", 131, 131, {16, 16}, 8);
    c.docs = Docs::packed;
    c.batch = 2;
    cases.push_back(c);
  }
  {  // queries shifted by an offset (a ring step): some positions negative, global ones inside
    AttentionCase c = local_global("offsets", 97, 131, {30, 0}, 12);
    c.mask = MaskKind::causal;
    c.positions = PositionMode::offsets;
    c.q_offset = -20;
    c.k_offset = -5;
    cases.push_back(c);
  }
  {  // explicit unsorted positions: the pair-by-pair path of the kernels
    AttentionCase c = local_global("random_positions", 97, 131, {15, 15}, 10);
    c.positions = PositionMode::random;
    cases.push_back(c);
  }
  {
    AttentionCase c = local_global("bhnd_dv", 97, 97, {9, 9}, 3);
    c.heads_major = true;
    c.dim = 96;
    c.dim_v = 32;
    cases.push_back(c);
  }
  return cases;
}

class LocalGlobal : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(LocalGlobal, ForwardAndBackwardMatchOracle) {
  check_attention_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, LocalGlobal, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<AttentionCase>& info) {
                           std::string name = info.param.name.substr(0, info.param.name.find(' '));
                           return name;
                         });

TEST(LocalGlobalSpec, GlobalsWithoutWindowChangeNothing) {
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  spec.global_tokens = 10;
  const ResolvedMask m = resolve_mask(spec, 50, 50);
  EXPECT_EQ(m.n_global, 0);
  for (int64_t i = 0; i < 50; ++i)
    for (int64_t j = 0; j < 50; ++j) EXPECT_EQ(m.visible(0, i, j), j <= i);
}

TEST(LocalGlobalSpec, GlobalRowsAndColumnsSeeEverything) {
  AttentionSpec spec;
  spec.window = Window{2, 2};
  spec.global_tokens = 3;
  const ResolvedMask m = resolve_mask(spec, 40, 40);
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = 0; j < 40; ++j) {
      const bool want = i < 3 || j < 3 || (j >= i - 2 && j <= i + 2);
      EXPECT_EQ(m.visible(0, i, j), want) << i << ", " << j;
    }
  EXPECT_NE(spec.describe().find("global(3)"), std::string::npos);
}

TEST(LocalGlobalSpec, RejectsNegativeGlobalCount) {
  AttentionSpec spec;
  spec.window = Window{4, 4};
  spec.global_tokens = -1;
  try {
    resolve_mask(spec, 10, 10);
    FAIL() << "no error";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "global_tokens");
  }
}

}  // namespace
}  // namespace longctx::test
