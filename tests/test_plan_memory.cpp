// longctx plan: per-device memory and communication of whole layouts — ZeRO arithmetic by hand,
// communication volumes by hand, monotonicity in the number of devices, max context, the
// published claims (docs/PLAN.md), the JSON keys and the bad-input errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "longctx/core/error.hpp"
#include "longctx/plan/report.hpp"

namespace longctx::plan {
namespace {

constexpr double kGiB = double(1ull << 30);

Layout make_layout(int64_t tp, bool sp, int64_t cp, const std::string& kind, int zero,
                   Recompute rc) {
  Layout l;
  l.tp = tp;
  l.sequence_parallel = sp;
  l.zero = zero;
  l.recompute = rc;
  parse_cp_kind(kind, cp, l);
  return l;
}

Workload make_work(int64_t seq, int64_t gpus) {
  Workload w;
  w.seq = seq;
  w.gpus = gpus;
  return w;
}

DeviceMemory memory_of(const std::string& model, Layout l, const Workload& w) {
  const ModelConfig m = find_builtin_model(model);
  validate(m, l, w);
  return predict_memory(m, l, w);
}

TEST(PlanMemory, ModelStateUnderZeroByHand) {
  const double psi = 6738415616.0;  // LLaMA-2 7B
  const Workload w = make_work(4096, 8);
  // dp = 8: 2 + 2 + 12 bytes per parameter, sharded per stage.
  DeviceMemory z0 =
      memory_of("llama-2-7b", make_layout(1, false, 1, "ring", 0, Recompute::none), w);
  EXPECT_DOUBLE_EQ(z0.params, 2 * psi);
  EXPECT_DOUBLE_EQ(z0.grads, 2 * psi);
  EXPECT_DOUBLE_EQ(z0.optimizer, 12 * psi);
  DeviceMemory z1 =
      memory_of("llama-2-7b", make_layout(1, false, 1, "ring", 1, Recompute::none), w);
  EXPECT_DOUBLE_EQ(z1.optimizer, 12 * psi / 8);
  DeviceMemory z2 =
      memory_of("llama-2-7b", make_layout(1, false, 1, "ring", 2, Recompute::none), w);
  EXPECT_DOUBLE_EQ(z2.grads, 2 * psi / 8);
  DeviceMemory z3 =
      memory_of("llama-2-7b", make_layout(1, false, 1, "ring", 3, Recompute::none), w);
  EXPECT_DOUBLE_EQ(z3.params, 2 * psi / 8);
  // ZeRO shards over dp·cp: CP ranks hold the same weights.
  DeviceMemory cp =
      memory_of("llama-2-7b", make_layout(1, false, 4, "ring", 3, Recompute::none), w);
  EXPECT_DOUBLE_EQ(cp.params, 2 * psi / 8);
  // TP 2: every matrix halves, the norms stay whole (2h per layer + h final).
  DeviceMemory tp =
      memory_of("llama-2-7b", make_layout(2, false, 1, "ring", 0, Recompute::none), w);
  const double norms = 32 * 2 * 4096 + 4096;
  EXPECT_DOUBLE_EQ(tp.params, 2 * ((psi - norms) / 2 + norms));
}

TEST(PlanMemory, InferenceKeepsAKvCacheAndNoTrainingState) {
  // Llama-3.1 8B at 128K: KV cache = 2 (K, V) · 32 layers · 131072 · 8·128 · 2 bytes = 16 GiB.
  Workload w = make_work(131072, 1);
  w.inference = true;
  const DeviceMemory m =
      memory_of("llama-3.1-8b", make_layout(1, false, 1, "ring", 0, Recompute::none), w);
  EXPECT_DOUBLE_EQ(m.kv_cache, 16 * kGiB);
  EXPECT_EQ(m.grads, 0);
  EXPECT_EQ(m.optimizer, 0);
  // Context parallel shards the cache by sequence.
  Workload w4 = w;
  w4.gpus = 4;
  EXPECT_DOUBLE_EQ(
      memory_of("llama-3.1-8b", make_layout(1, false, 4, "ring", 0, Recompute::none), w4).kv_cache,
      4 * kGiB);
}

TEST(PlanMemory, CommunicationVolumesByHand) {
  const ModelConfig m = find_builtin_model("llama-2-7b");
  Workload w = make_work(4096, 2);
  // TP 2 without SP: 4 all-reduces of [4096, 4096] bf16 (32 MiB), 2(t-1)/t = 1 of it each.
  Layout tp = make_layout(2, false, 1, "ring", 0, Recompute::none);
  validate(m, tp, w);
  auto v = comm_per_layer(m, tp, w);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "tp_all_reduce");
  EXPECT_EQ(v[0].calls, 4);
  EXPECT_DOUBLE_EQ(v[0].bytes, 4 * 33554432.0);

  // Ring over 4: block = K, V of 1024 tokens × 4096 × 2 bytes = 16 MiB. Forward 3 hops, backward
  // 3 hops + 4 hops of fp32 dK, dV (32 MiB).
  w.gpus = 4;
  Layout ring = make_layout(1, false, 4, "ring", 1, Recompute::none);
  validate(m, ring, w);
  v = comm_per_layer(m, ring, w);
  ASSERT_EQ(v.size(), 3u);  // ring + ZeRO-1 reduce-scatter + all-gather over the 4 CP ranks
  EXPECT_EQ(v[0].name, "cp_ring_send_recv");
  EXPECT_DOUBLE_EQ(v[0].bytes, 3 * 16777216.0 + 3 * 16777216.0 + 4 * 33554432.0);

  // Ulysses over 4: q, k, v, o forward and do, dq, dk, dv backward, each 1024 × 4096 × 2 bytes
  // = 8 MiB per device, 3/4 of it leaves the device.
  Layout uly = make_layout(1, false, 4, "ulysses", 1, Recompute::none);
  validate(m, uly, w);
  v = comm_per_layer(m, uly, w);
  EXPECT_EQ(v[0].name, "cp_all_to_all");
  EXPECT_DOUBLE_EQ(v[0].bytes, 0.75 * 8 * 8388608.0);
}

TEST(PlanMemory, MoreDevicesNeverMeanMoreMemoryPerDevice) {
  int compared = 0;
  for (const std::string& model : builtin_model_names()) {
    const ModelConfig m = find_builtin_model(model);
    for (const char* kind : {"ring", "zigzag", "ulysses", "allgather"}) {
      // LLaMA 30B has 52 heads: Ulysses over 4 with t = 2 (26 heads per rank) is not a layout.
      if (std::string(kind) == "ulysses" && (m.heads / 2) % 4 != 0) continue;
      for (int zero = 0; zero <= 3; ++zero) {
        for (Recompute rc : {Recompute::none, Recompute::full}) {
          for (bool flash : {true, false}) {
            // Same layout, twice the data-parallel ranks; and twice the context-parallel ranks.
            Layout l = make_layout(2, true, 2, kind, zero, rc);
            l.flash = flash;
            const double base = memory_of(model, l, make_work(16384, 8)).total();
            EXPECT_LE(memory_of(model, l, make_work(16384, 16)).total(), base) << model << kind;
            Layout wider = make_layout(2, true, 4, kind, zero, rc);
            wider.flash = flash;
            EXPECT_LE(memory_of(model, wider, make_work(16384, 16)).total(), base)
                << model << " " << kind << " zero " << zero;
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, 8 * 4 * 4 * 2 * 2 - 4 * 2 * 2);
}

TEST(PlanMemory, MaxContextIsTheLongestFittingMultiple) {
  const ModelConfig m = find_builtin_model("llama-2-7b");
  Layout l = make_layout(1, false, 8, "zigzag", 3, Recompute::full);
  Workload w = make_work(16, 8);
  validate(m, l, w);
  const double usable = 78 * kGiB;
  const int64_t s = max_context(m, l, w, usable);
  ASSERT_GT(s, 0);
  EXPECT_EQ(s % 16, 0);  // zigzag over 8: multiples of 2·8
  w.seq = s;
  EXPECT_LE(predict_memory(m, l, w).total(), usable);
  w.seq = s + 16;
  EXPECT_GT(predict_memory(m, l, w).total(), usable);
}

TEST(PlanClaims, SequenceSplitBeatsTensorSplitBeyond8hAnd16hForLlama7B) {
  // With 8 bytes of replicated weight state per parameter the crossover is 8.0·h for attention
  // and 16.1·h for the MLP (≈ 32K and 66K tokens); the ratio 3f/(4h) holds for any B.
  const ModelConfig m = find_builtin_model("llama-2-7b");
  const auto xs = tp_vs_sp_crossover(m, 2, 8);
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_NEAR(xs[0].seq_over_hidden, 8.0, 0.01);
  EXPECT_NEAR(xs[1].seq_over_hidden, 16.13, 0.01);
  // Cross-check the crossover against the full memory model: attention + MLP of one layer under
  // TP 2 (no SP) vs CP 2, ZeRO 0, at s just below and above the whole-layer threshold.
  const auto xs16 = tp_vs_sp_crossover(m, 2, 16);
  const double layer_threshold =
      (xs16[0].seq * xs16[0].replicated_per_token + xs16[1].seq * xs16[1].replicated_per_token) /
      (xs16[0].replicated_per_token + xs16[1].replicated_per_token);
  auto per_layer = [&](Layout l, int64_t s) {
    Workload w = make_work(s, 2);
    validate(m, l, w);
    const DeviceMemory mem = predict_memory(m, l, w);
    const DeviceShapes d = device_shapes(m, l, w);
    return mem.activations_per_layer + d.layer_params * 16;
  };
  const Layout tp = make_layout(2, false, 1, "ring", 0, Recompute::none);
  const Layout cp = make_layout(1, false, 2, "ring", 0, Recompute::none);
  const int64_t below = int64_t(layer_threshold * 0.9) / 2 * 2;
  const int64_t above = int64_t(layer_threshold * 1.1) / 2 * 2;
  EXPECT_LT(per_layer(tp, below), per_layer(cp, below));
  EXPECT_GT(per_layer(tp, above), per_layer(cp, above));
}

TEST(PlanClaims, RingContextGrowsLinearlyWithDevices) {
  const ModelConfig m = find_builtin_model("llama-2-7b");
  auto longest = [&](int64_t c) {
    Layout l = make_layout(1, false, c, "zigzag", 3, Recompute::full);
    Workload w = make_work(2 * c, c);
    validate(m, l, w);
    return double(max_context(m, l, w, 78 * kGiB));
  };
  // Each device added adds the same number of tokens once the sharded model state is small.
  const double per_device_8_16 = (longest(16) - longest(8)) / 8;
  const double per_device_32_64 = (longest(64) - longest(32)) / 32;
  EXPECT_NEAR(per_device_32_64 / per_device_8_16, 1.0, 0.02);
  EXPECT_GT(longest(64), 7.5 * longest(8));
}

TEST(PlanClaims, UlyssesDegreeIsCappedByHeadsSoItStopsFittingWhereRingFits) {
  // LLaMA 30B (52 heads), 100K tokens, 8 GPUs of 80 GiB, ZeRO-3 and full recompute: the ring
  // splits the sequence 8 ways and fits; Ulysses cannot go past 4 (a divisor of 52) and does not.
  const ModelConfig m = find_builtin_model("llama-30b");
  const Workload w = make_work(102400, 8);
  const double usable = 80 * kGiB;
  Layout ring = make_layout(1, false, 8, "ring", 3, Recompute::full);
  validate(m, ring, w);
  EXPECT_LE(predict_memory(m, ring, w).total(), usable);
  Layout uly8 = make_layout(1, false, 8, "ulysses", 3, Recompute::full);
  EXPECT_THROW(validate(m, uly8, w), ArgumentError);
  Layout uly4 = make_layout(1, false, 4, "ulysses", 3, Recompute::full);
  validate(m, uly4, w);
  EXPECT_GT(predict_memory(m, uly4, w).total(), usable);
}

TEST(PlanReport, JsonHasTheDocumentedKeys) {
  const ModelConfig m = find_builtin_model("llama-3.1-8b");
  Workload w = make_work(32768, 8);
  const PlanResult r = plan_layout(m, make_layout(2, true, 4, "usp:2x2", 1, Recompute::full), w,
                                   Hardware{}, 2 * kGiB, true);
  const nlohmann::json j = to_json(r);
  for (const char* key : {"params", "grads", "optimizer", "activations", "workspace",
                          "comm_buffers", "kv_cache", "total"}) {
    ASSERT_TRUE(j["per_device"].contains(key)) << key;
    EXPECT_TRUE(j["per_device"][key].is_number_integer()) << key;
  }
  const auto& pd = j["per_device"];
  EXPECT_EQ(pd["total"].get<int64_t>(), int64_t(std::llround(r.memory.total())));
  EXPECT_TRUE(j["fits"].is_boolean());
  EXPECT_TRUE(j["max_context"].is_number_integer());
  EXPECT_EQ(j["layout"]["cp_kind"], "usp:2x2");
  EXPECT_EQ(j["layout"]["dp"], 1);
  EXPECT_FALSE(j["comm_per_layer_step"].empty());
  EXPECT_GT(j["step_time"]["seconds"].get<double>(), 0);
  // Without --max-context the key is absent.
  const PlanResult r2 = plan_layout(m, make_layout(1, false, 1, "ring", 0, Recompute::none),
                                    make_work(4096, 1), Hardware{}, 0, false);
  EXPECT_FALSE(to_json(r2).contains("max_context"));
}

TEST(PlanSearch, RanksOnlyFeasibleLayoutsFastestFirst) {
  const ModelConfig m = find_builtin_model("llama-2-7b");
  const Workload w = make_work(65536, 8);
  const auto ranked = search_layouts(m, w, Hardware{}, 78 * kGiB, SearchOptions{});
  ASSERT_FALSE(ranked.empty());
  for (size_t i = 0; i < ranked.size(); ++i) {
    EXPECT_TRUE(ranked[i].fits);
    EXPECT_EQ(ranked[i].layout.tp * ranked[i].layout.cp * ranked[i].layout.dp, 8);
    if (i > 0) {
      EXPECT_LE(ranked[i - 1].seconds_per_sequence(), ranked[i].seconds_per_sequence());
    }
  }
  // Plain ring pays the causal imbalance: zigzag with the same split is strictly faster.
  Layout ring = make_layout(1, false, 8, "ring", 3, Recompute::full);
  Layout zig = make_layout(1, false, 8, "zigzag", 3, Recompute::full);
  validate(m, ring, w);
  validate(m, zig, w);
  EXPECT_LT(predict_step_time(m, zig, w, Hardware{}).total_s,
            predict_step_time(m, ring, w, Hardware{}).total_s);
}

void expect_argument_error(const std::string& flag, const std::string& needle,
                           const std::function<void()>& f) {
  try {
    f();
    ADD_FAILURE() << "expected an ArgumentError for " << flag;
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), flag) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PlanErrors, BadLayoutsNameTheFlagAndTheExpectedValue) {
  const ModelConfig m = find_builtin_model("llama-2-7b");  // 32 heads
  auto check = [&](Layout l, Workload w) { validate(m, l, w); };
  expect_argument_error("--tp", "divisor of num_attention_heads = 32", [&] {
    check(make_layout(3, false, 1, "ring", 0, Recompute::none), make_work(4096, 3));
  });
  expect_argument_error("--cp", "Ulysses degree dividing the heads", [&] {
    check(make_layout(1, false, 64, "ulysses", 0, Recompute::none), make_work(4096, 64));
  });
  expect_argument_error("--gpus", "multiple of tp·cp = 8", [&] {
    check(make_layout(2, false, 4, "ring", 0, Recompute::none), make_work(4096, 12));
  });
  expect_argument_error("--seq", "multiple of 16", [&] {
    check(make_layout(1, false, 8, "zigzag", 0, Recompute::none), make_work(4104, 8));
  });
  expect_argument_error("--zero", "0..3", [&] {
    check(make_layout(1, false, 1, "ring", 4, Recompute::none), make_work(4096, 1));
  });
  expect_argument_error("--cp-kind", "U·R = --cp = 8", [] {
    Layout l;
    parse_cp_kind("usp:3x2", 8, l);
  });
  expect_argument_error("--cp-kind", "ring, zigzag", [] {
    Layout l;
    parse_cp_kind("spiral", 2, l);
  });
  expect_argument_error("--recompute", "none, selective or full", [] { parse_recompute("some"); });
  expect_argument_error("--dtype", "bf16", [] { parse_dtype_bytes("int8"); });
  // usp: the Ulysses part must divide the heads per TP rank (32/4 = 8).
  expect_argument_error("--cp-kind", "(32/4 = 8)", [&] {
    check(make_layout(4, true, 32, "usp:16x2", 0, Recompute::none), make_work(4096, 128));
  });
}

}  // namespace
}  // namespace longctx::plan
