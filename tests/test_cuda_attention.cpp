// The CUDA backend against the float64 oracle (forward O, LSE; backward dQ, dK, dV) on random
// odd sizes, every mask, GQA, both storage orders, and against the CPU backend on the same
// inputs. Device outputs are poisoned before each run. Skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <vector>

#include "attention_case.hpp"
#include "device_runner.hpp"
#include "longctx/attention.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

AttentionCase gpu_case(std::string name, DType dtype, int64_t dim, int64_t n, int64_t m,
                       int64_t heads, int64_t kv_heads, MaskKind mask) {
  AttentionCase c;
  c.name = std::move(name);
  c.dtype = dtype;
  c.dim = dim;
  c.n = n;
  c.m = m;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.mask = mask;
  c.options.backend = Backend::cuda;
  return c;
}

std::vector<AttentionCase> gpu_cases() {
  const DType bf = DType::bf16, hf = DType::f16;
  std::vector<AttentionCase> cs;
  cs.push_back(gpu_case("full d64 bf16", bf, 64, 37, 37, 2, 1, MaskKind::full));
  cs.push_back(gpu_case("full d128 f16 N!=M", hf, 128, 131, 300, 3, 3, MaskKind::full));
  cs.push_back(gpu_case("causal d128 bf16 GQA 2", bf, 128, 577, 577, 4, 2, MaskKind::causal));
  cs.push_back(gpu_case("causal d64 f16 bottom-right", hf, 64, 131, 1000, 2, 2, MaskKind::causal));
  cs.push_back(gpu_case("causal d128 bf16 decode N=1", bf, 128, 1, 1000, 4, 1, MaskKind::causal));
  cs.push_back(gpu_case("causal d64 bf16 N>M", bf, 64, 300, 97, 2, 1, MaskKind::causal));
  {
    AttentionCase c =
        gpu_case("causal window(64,0) d64 bf16", bf, 64, 1000, 1000, 2, 1, MaskKind::causal);
    c.window = Window{64, 0};
    cs.push_back(c);
  }
  {
    AttentionCase c = gpu_case("window(33,17) d128 f16", hf, 128, 257, 255, 2, 2, MaskKind::full);
    c.window = Window{33, 17};
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("documents causal d64 bf16 B=2", bf, 64, 577, 577, 2, 1, MaskKind::causal);
    c.batch = 2;
    c.docs = Docs::packed;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("documents with empty rows d64 f16", hf, 64, 131, 131, 2, 2, MaskKind::full);
    c.docs = Docs::mismatched;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("zigzag positions causal d128 bf16", bf, 128, 300, 600, 2, 1, MaskKind::causal);
    c.positions = PositionMode::zigzag;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("random positions causal d64 bf16", bf, 64, 97, 131, 2, 1, MaskKind::causal);
    c.positions = PositionMode::random;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("offsets causal d128 bf16", bf, 128, 200, 700, 2, 2, MaskKind::causal);
    c.positions = PositionMode::offsets;
    c.q_offset = 1000;
    c.k_offset = 500;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("bhnd causal d128 bf16 B=2 GQA 4", bf, 128, 513, 513, 4, 1, MaskKind::causal);
    c.batch = 2;
    c.heads_major = true;
    cs.push_back(c);
  }
  {
    AttentionCase c =
        gpu_case("large logits full d64 bf16", bf, 64, 129, 129, 2, 1, MaskKind::full);
    c.input_stddev = 3.f;
    cs.push_back(c);
  }
  {
    AttentionCase c = gpu_case("local-global window(32,0) + 5 global d64 bf16", bf, 64, 517, 517, 2,
                               1, MaskKind::causal);
    c.window = Window{32, 0};
    c.customize_spec = [](AttentionSpec& s) { s.global_tokens = 5; };
    cs.push_back(c);
  }
  for (AttentionCase& c : cs) {
    c.n = sized(c.n);
    c.m = sized(c.m);
  }
  return cs;
}

class CudaAttention : public ::testing::TestWithParam<AttentionCase> {
 protected:
  void SetUp() override {
    if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaAttention, MatchesOracle) {
  check_attention_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaAttention, ::testing::ValuesIn(gpu_cases()),
                         [](const ::testing::TestParamInfo<AttentionCase>& info) {
                           return "case" + std::to_string(info.index);
                         });

// The same bf16 inputs through the CUDA and the CPU backend (which computes in fp32).
TEST(CudaAttentionVsCpu, CausalGqaForwardAndBackward) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  AttentionCase c =
      gpu_case("vs cpu", DType::bf16, 128, sized(421), sized(421), 4, 2, MaskKind::causal);
  AttentionInputs in(c, seed);
  AttentionOptions cpu;
  const ForwardResult g = device_forward(in.q.view, in.k.view, in.v.view, in.spec, c.options);
  const ForwardResult h = attention_forward(in.q.view, in.k.view, in.v.view, in.spec, cpu);
  const double tol = tolerance(DType::bf16);
  EXPECT_TRUE(rows_close(to_f64(g.out), to_f64(h.out), c.dim, tol, "out vs cpu"));
  EXPECT_TRUE(lse_close(to_f64(g.lse), to_f64(h.lse), 1e-3));
  const BackwardResult gb = device_backward(in.q.view, in.k.view, in.v.view, h.out, h.lse,
                                            in.dout.view, in.spec, c.options);
  const BackwardResult hb =
      attention_backward(in.q.view, in.k.view, in.v.view, h.out, h.lse, in.dout.view, in.spec, cpu);
  EXPECT_TRUE(rows_close(to_f64(gb.dq), to_f64(hb.dq), c.dim, 2 * tol, "dq vs cpu"));
  EXPECT_TRUE(rows_close(to_f64(gb.dk), to_f64(hb.dk), c.dim, 2 * tol, "dk vs cpu"));
  EXPECT_TRUE(rows_close(to_f64(gb.dv), to_f64(hb.dv), c.dim, 2 * tol, "dv vs cpu"));
}

}  // namespace
}  // namespace longctx::test
