// The CPU kernels on every SIMD target compiled in and supported by this CPU (Highway dynamic
// dispatch forced through simd_force_target), each checked against the float64 oracle, so a
// bug in a narrower ISA's code path cannot hide behind the widest one.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_case.hpp"
#include "cpu/cpu_attention.hpp"
#include "cpu/simd_targets.hpp"
#include "longctx/core/error.hpp"

namespace longctx::test {
namespace {

std::vector<AttentionCase> target_cases() {
  std::vector<AttentionCase> cases;
  AttentionCase c;
  c.name = "causal_gqa";
  c.n = 61;
  c.m = 77;
  c.heads = 4;
  c.kv_heads = 2;
  c.mask = MaskKind::causal;
  cases.push_back(c);

  c = AttentionCase{};
  c.name = "docs_window_blocks";
  c.batch = 2;
  c.n = 53;
  c.m = 53;
  c.dim = 80;
  c.dim_v = 40;
  c.mask = MaskKind::causal;
  c.docs = Docs::mismatched;
  c.window = Window{9, 0};
  c.options.block_q = 8;
  c.options.block_k = 24;
  cases.push_back(c);

  c = AttentionCase{};
  c.name = "bf16_full_d256";
  c.dtype = DType::bf16;
  c.n = 29;
  c.m = 43;
  c.dim = 256;
  cases.push_back(c);

  c = AttentionCase{};
  c.name = "f16_bhnd_d32";
  c.dtype = DType::f16;
  c.heads_major = true;
  c.n = 40;
  c.m = 33;
  c.dim = 32;
  c.dim_v = 96;
  c.mask = MaskKind::causal;
  cases.push_back(c);
  return cases;
}

class SimdTargets : public ::testing::Test {
 protected:
  void TearDown() override { cpu::simd_force_target(""); }
};

TEST_F(SimdTargets, EveryTargetMatchesOracle) {
  const std::vector<std::string> targets = cpu::simd_available_targets();
  ASSERT_FALSE(targets.empty());
  std::string list;
  for (const std::string& t : targets) list += t + " ";
  RecordProperty("targets", list);
  for (const std::string& target : targets) {
    SCOPED_TRACE("SIMD target " + target);
    cpu::simd_force_target(target);
    EXPECT_EQ(std::string(cpu::simd_target_name()), target);
    for (const AttentionCase& c : target_cases()) check_attention_case(c);
  }
  cpu::simd_force_target("");
  EXPECT_EQ(std::string(cpu::simd_target_name()), targets.front());
}

TEST_F(SimdTargets, UnknownTargetIsRejected) {
  EXPECT_THROW(cpu::simd_force_target("NOT_AN_ISA"), ArgumentError);
}

}  // namespace
}  // namespace longctx::test
