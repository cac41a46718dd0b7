// Every schedule × {full, causal, window} × GQA ratios × rank counts, forward and backward, on the
// in-process communicator, against single-process attention on the whole sequence. Also the
// per-rank statistics the benchmark relies on: counted FLOPs add up to the single-process count,
// zigzag and striped balance causal work, bytes sent follow SPEC §4.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <ostream>
#include <vector>

#include "dist_case.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/dist/in_process.hpp"
#include "test_util.hpp"

namespace longctx::dist::test {
namespace {

struct MaskCase {
  const char* name;
  MaskKind mask;
  std::optional<Window> window;
};

const MaskCase kMasks[] = {
    {"full", MaskKind::full, std::nullopt},
    {"causal", MaskKind::causal, std::nullopt},
    {"window", MaskKind::causal, Window{9, 0}},
    {"window2", MaskKind::full, Window{5, 7}},
};

// Runs a case on `ranks` threads; returns each rank's errors and statistics.
struct RankResult {
  RankErrors errors;
  RankStats fwd, bwd;
};
std::vector<RankResult> run_case(const DistCase& c, uint64_t seed) {
  const DistReference ref(c, seed);
  std::vector<RankResult> results(static_cast<size_t>(c.ranks));
  run_in_process(c.ranks, [&](Communicator& comm) {
    RankResult& r = results[size_t(comm.rank())];
    r.errors = run_and_compare(comm, c, ref, &r.fwd, &r.bwd);
  });
  return results;
}

void expect_exact(const DistCase& c) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(c.describe() + " " + longctx::test::seed_note(seed));
  const auto results = run_case(c, seed);
  const double tol = dist_tolerance(c.dtype);
  for (size_t r = 0; r < results.size(); ++r) {
    const RankErrors& e = results[r].errors;
    EXPECT_LE(e.out, tol) << "out, rank " << r;
    EXPECT_LE(e.lse, 1e-5) << "lse, rank " << r;
    EXPECT_LE(e.dq, tol) << "dq, rank " << r;
    EXPECT_LE(e.dk, tol) << "dk, rank " << r;
    EXPECT_LE(e.dv, tol) << "dv, rank " << r;
  }
}

// Sequence lengths: odd where the layout allows, a multiple of 2P for zigzag.
int64_t length_for(const std::string& parallel, int ranks) {
  if (parallel == "zigzag") return 2 * ranks * (longctx::test::small_sizes() ? 5 : 9);
  return longctx::test::small_sizes() ? 31 + 2 * ranks : 67 + 2 * ranks;
}

struct ScheduleParam {
  std::string parallel;
  int ranks;
};

void PrintTo(const ScheduleParam& p, std::ostream* os) {
  *os << p.parallel << " P=" << p.ranks;
}

class ScheduleTest : public ::testing::TestWithParam<ScheduleParam> {};

TEST_P(ScheduleTest, EqualsSingleProcessForEveryMaskAndGqaRatio) {
  const ScheduleParam p = GetParam();
  // (H, G): MHA, GQA 2, MQA; Ulysses needs H % U == 0 and G % U == 0 or U % G == 0.
  const int u = p.parallel == "ulysses" ? p.ranks : (p.parallel == "usp:2x2" ? 2 : 1);
  const int64_t heads = u == 3 ? 6 : 4;
  const std::vector<std::pair<int64_t, int64_t>> gqa = {
      {heads, heads}, {heads, heads / 2}, {heads, 1}};
  for (const MaskCase& m : kMasks) {
    for (auto [h, g] : gqa) {
      if (u > 1 && g % u != 0 && u % g != 0) continue;
      DistCase c;
      c.parallel = p.parallel;
      c.ranks = p.ranks;
      c.n = length_for(p.parallel, p.ranks);
      c.heads = h;
      c.kv_heads = g;
      c.mask = m.mask;
      c.window = m.window;
      expect_exact(c);
    }
  }
}

std::vector<ScheduleParam> schedule_params() {
  std::vector<ScheduleParam> ps;
  for (const char* s : {"ring", "zigzag", "striped", "ulysses", "allgather"})
    for (int r = 1; r <= 4; ++r) ps.push_back({s, r});
  ps.push_back({"usp:2x2", 4});
  ps.push_back({"usp:2x1", 2});
  ps.push_back({"usp:1x3", 3});
  return ps;
}

INSTANTIATE_TEST_SUITE_P(Dist, ScheduleTest, ::testing::ValuesIn(schedule_params()),
                         [](const ::testing::TestParamInfo<ScheduleParam>& info) {
                           std::string name =
                               info.param.parallel + "_P" + std::to_string(info.param.ranks);
                           std::replace(name.begin(), name.end(), ':', '_');
                           return name;
                         });

TEST(DistSchedules, Bf16AndBatchAndDimV) {
  for (const char* s : {"ring", "zigzag", "striped", "ulysses", "allgather"}) {
    DistCase c;
    c.parallel = s;
    c.ranks = 2;
    c.batch = 2;
    c.n = 44;
    c.dim = 64;
    c.dim_v = 32;
    c.dtype = DType::bf16;
    expect_exact(c);
  }
}

TEST(DistSchedules, UspFourRanksWithReplicatedKvHeads) {
  DistCase c;
  c.parallel = "usp:4x1";
  c.ranks = 4;
  c.n = 41;
  c.heads = 8;
  c.kv_heads = 2;  // U % G == 0: each KV head replicated on two ranks, gradients summed
  expect_exact(c);
}

// --- statistics ----------------------------------------------------------------------------

double max_over_mean(const std::vector<RankResult>& rs, bool backward) {
  double mx = 0, sum = 0;
  for (const RankResult& r : rs) {
    const double f = backward ? r.bwd.flops : r.fwd.flops;
    mx = std::max(mx, f);
    sum += f;
  }
  return mx / (sum / double(rs.size()));
}

TEST(DistStats, CountedFlopsAddUpAndZigzagBalancesCausalWork) {
  for (const char* s : {"ring", "zigzag", "striped", "ulysses", "allgather", "usp:2x2"}) {
    DistCase c;
    c.parallel = s;
    c.ranks = 4;
    c.n = 256;
    c.heads = 4;
    c.kv_heads = 2;
    c.dim = c.dim_v = 32;
    const auto rs = run_case(c, 7);
    const int64_t pairs = count_visible_pairs(resolve_mask(c.spec(), c.n, c.n), c.batch);
    const double total_fwd = 2.0 * double(pairs) * double(c.heads) * double(c.dim + c.dim_v);
    double fwd = 0, bwd = 0;
    for (const RankResult& r : rs) {
      fwd += r.fwd.flops;
      bwd += r.bwd.flops;
    }
    EXPECT_DOUBLE_EQ(fwd, total_fwd) << s;
    EXPECT_DOUBLE_EQ(bwd, 2.5 * total_fwd) << s;
    const double balance = max_over_mean(rs, false);
    if (std::string(s) == "zigzag") {
      EXPECT_NEAR(balance, 1.0, 1e-12);
    } else if (std::string(s) == "striped") {
      EXPECT_LT(balance, 1.02);
    } else if (std::string(s) == "ring") {
      EXPECT_NEAR(balance, 1.75, 0.02);  // (2P−1)/P for large blocks
    }
  }
}

TEST(DistStats, RingBytesFollowSpecFormulas) {
  // Ring and zigzag, P = 4, equal blocks: forward sends (P−1) KV blocks; backward (P−1) KV blocks
  // plus P float32 dK/dV blocks (the last hop takes them home).
  for (const char* s : {"ring", "zigzag"}) {
    DistCase c;
    c.parallel = s;
    c.ranks = 4;
    c.n = 64;
    c.heads = 4;
    c.kv_heads = 2;
    const auto rs = run_case(c, 11);
    const int64_t rows = c.n / c.ranks;
    const int64_t kv = c.batch * rows * c.kv_heads * (c.dim + c.dim_v) * 4;  // f32 storage
    for (const RankResult& r : rs) {
      EXPECT_EQ(r.fwd.bytes_sent, 3 * kv) << s;
      EXPECT_EQ(r.bwd.bytes_sent, 3 * kv + 4 * kv) << s;
      EXPECT_EQ(r.fwd.steps_computed + r.fwd.steps_skipped, 4) << s;
    }
  }
  DistCase c;  // all-gather: each rank's KV goes to P − 1 peers; dK, dV reduce-scattered
  c.parallel = "allgather";
  c.ranks = 4;
  c.n = 64;
  const auto rs = run_case(c, 12);
  const int64_t kv = c.batch * (c.n / 4) * c.kv_heads * (c.dim + c.dim_v) * 4;
  for (const RankResult& r : rs) {
    EXPECT_EQ(r.fwd.bytes_sent, 3 * kv);
    EXPECT_EQ(r.bwd.bytes_sent, 3 * kv + 3 * kv);
  }
  c.parallel = "ulysses";  // q, k, v in; out and lse back: (P−1)/P of each local tensor
  c.kv_heads = 4;          // split, not replicated (replicas would send more)
  const auto us = run_case(c, 13);
  const int64_t rows = c.n / 4;
  const int64_t q_bytes = c.batch * rows * c.heads * c.dim * 4;
  const int64_t kv_bytes = c.batch * rows * c.kv_heads * (c.dim + c.dim_v) * 4;
  const int64_t o_bytes = c.batch * rows * c.heads * (c.dim_v + 1) * 4;
  for (const RankResult& r : us)
    EXPECT_EQ(r.fwd.bytes_sent, (q_bytes + kv_bytes + o_bytes) * 3 / 4);
}

TEST(DistStats, SlidingWindowSkipsFarStepsAndStopsTheRing) {
  DistCase c;
  c.parallel = "ring";
  c.ranks = 4;
  c.n = 128;  // 32 rows per rank; a window of 20 reaches one block back
  c.mask = MaskKind::causal;
  c.window = Window{20, 0};
  const auto rs = run_case(c, 5);
  const int64_t kv = c.batch * 32 * c.kv_heads * (c.dim + c.dim_v) * 4;
  for (const RankResult& r : rs) {
    EXPECT_EQ(r.fwd.steps_computed + r.fwd.steps_skipped, 2);  // steps 0 and 1 only
    EXPECT_EQ(r.fwd.bytes_sent, kv);
  }
  EXPECT_EQ(rs[0].fwd.steps_computed, 1);  // rank 0 has nothing before it
}

}  // namespace
}  // namespace longctx::dist::test
