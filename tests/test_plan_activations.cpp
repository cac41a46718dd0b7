// longctx plan: per-layer activation memory against Korthikanti et al. (arXiv 2205.05198) Table 2
// evaluated by hand for GPT-3 175B (s = 2048, b = 1, h = 12288, a = 96, t = 8), and against the
// LLaMA adaptation evaluated by hand for LLaMA-2 7B and Llama-3.1 8B.
#include <gtest/gtest.h>

#include "longctx/plan/activation_terms.hpp"
#include "longctx/plan/memory_model.hpp"

namespace longctx::plan {
namespace {

ActivationSharding sharding(double s, double b, double t, bool sp) {
  ActivationSharding sh;
  sh.tokens = s * b;
  sh.keys = s;
  sh.norm_div = sp ? t : 1;
  sh.tensor_div = t;
  sh.query_div = t;
  sh.kv_div = t;
  return sh;
}

// GPT-3 175B shapes; sbh = 2048·12288 = 25,165,824.
constexpr double kS = 2048, kH = 12288, kA = 96, kT = 8, kSbh = 25165824;

TEST(PlanActivations, KorthikantiNoParallelism) {
  const auto terms = gpt_layer_terms(12288, 96);
  // sbh(34 + 5as/h) = sbh(34 + 80) = 2,868,903,936 bytes.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, 1, false), Recompute::none, false),
                   2868903936.0);
  EXPECT_DOUBLE_EQ(kSbh * (34 + 5 * kA * kS / kH), 2868903936.0);
}

TEST(PlanActivations, KorthikantiTensorParallel) {
  const auto terms = gpt_layer_terms(12288, 96);
  // sbh(10 + 24/t + 5as/(ht)) = sbh(10 + 3 + 10) = 578,813,952.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, kT, false), Recompute::none, false),
                   578813952.0);
}

TEST(PlanActivations, KorthikantiTensorAndSequenceParallel) {
  const auto terms = gpt_layer_terms(12288, 96);
  // (sbh/t)(34 + 5as/h) = 2,868,903,936 / 8 = 358,612,992.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, kT, true), Recompute::none, false),
                   358612992.0);
}

TEST(PlanActivations, KorthikantiSelectiveAndFullRecompute) {
  const auto terms = gpt_layer_terms(12288, 96);
  // Selective (TP+SP): 34·sbh/t = 106,954,752.
  EXPECT_DOUBLE_EQ(
      stored_layer_bytes(terms, sharding(kS, 1, kT, true), Recompute::selective, false),
      106954752.0);
  // Full recompute keeps the layer input: 2sbh (replicated under TP), 2sbh/t with SP.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, kT, false), Recompute::full, false),
                   2 * kSbh);
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, kT, true), Recompute::full, false),
                   2 * kSbh / kT);
  // Flash attention removes the 5as²b score term, like selective recompute.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(kS, 1, 1, false), Recompute::none, true),
                   34 * kSbh);
}

TEST(PlanActivations, KorthikantiScalesWithBatchAndHasTheRatioOfTheScoreTerm) {
  const auto terms = gpt_layer_terms(12288, 96);
  const double b1 = stored_layer_bytes(terms, sharding(kS, 1, 1, false), Recompute::none, false);
  const double b3 = stored_layer_bytes(terms, sharding(kS, 3, 1, false), Recompute::none, false);
  EXPECT_DOUBLE_EQ(b3, 3 * b1);
  // Doubling s doubles the 34sbh part and quadruples the 5as²b part.
  const double s2 =
      stored_layer_bytes(terms, sharding(2 * kS, 1, 1, false), Recompute::none, false);
  EXPECT_DOUBLE_EQ(s2, 2 * 34 * kSbh + 4 * 5 * kA * kS * kS);
}

TEST(PlanActivations, LlamaAdaptationByHand) {
  const ModelConfig m = find_builtin_model("llama-2-7b");
  const auto terms = llama_layer_terms(m, 2);
  // Per token, bf16: norm inputs/outputs 4·2h + q, o 2·2h + k, v 2·2·kv + gate, up, down 3·2f
  // + fp32 LSE 4a = 32768 + 16384 + 16384 + 66048 + 128 = 131,712 bytes (≈ 32.2·h, vs 34·h GPT).
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(4096, 1, 1, false), Recompute::none, true),
                   131712.0 * 4096);
  // TP 2 without SP: the norm region (4·2h = 32768 B/token) stays whole, the rest halves.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(4096, 1, 2, false), Recompute::none, true),
                   (32768.0 + (131712.0 - 32768.0) / 2) * 4096);
  // No flash: + softmax output 2·a·s per token, no LSE.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(4096, 1, 1, false), Recompute::none, false),
                   (131712.0 - 128 + 2 * 32 * 4096) * 4096);
  // Full recompute: the residual input only.
  EXPECT_DOUBLE_EQ(stored_layer_bytes(terms, sharding(4096, 1, 1, false), Recompute::full, true),
                   2.0 * 4096 * 4096);
  // The replicated (norm) region per block is 2·2h bytes per token in both blocks.
  EXPECT_DOUBLE_EQ(region_bytes_per_token(terms, Block::attention, Region::norm), 4.0 * 4096);
  EXPECT_DOUBLE_EQ(region_bytes_per_token(terms, Block::mlp, Region::norm), 4.0 * 4096);
}

TEST(PlanActivations, GqaKeyValueHeadsReplicateBeyondTheirCount) {
  // Llama-3.1 8B has 8 KV heads: at t = 16 each rank keeps one whole KV head, so K and V divide
  // by 8, not 16. With Ulysses 16 (t = 1) each rank receives a replicated head over all s tokens.
  const ModelConfig m = find_builtin_model("llama-3.1-8b");
  Workload w;
  w.seq = 8192;
  w.gpus = 16;
  Layout tp16;
  tp16.tp = 16;
  parse_cp_kind("ring", 1, tp16);
  validate(m, tp16, w);
  EXPECT_DOUBLE_EQ(device_shapes(m, tp16, w).sharding.kv_div, 8.0);
  EXPECT_DOUBLE_EQ(device_shapes(m, tp16, w).kv_elems, 8192.0 * 128);

  Layout ulysses16;
  parse_cp_kind("ulysses", 16, ulysses16);
  validate(m, ulysses16, w);
  const DeviceShapes d = device_shapes(m, ulysses16, w);
  EXPECT_DOUBLE_EQ(d.sharding.kv_div, 0.5);         // 2× the ring's KV per device
  EXPECT_DOUBLE_EQ(d.kv_elems, 8192.0 * 128);       // all s tokens of one head
  EXPECT_DOUBLE_EQ(d.q_elems, 8192.0 / 16 * 4096);  // same count as the ring's Q
}

}  // namespace
}  // namespace longctx::plan
