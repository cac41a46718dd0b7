// The pieces under the schedules: the in-process communicator (every operation, uneven splits,
// split(), failures that abort instead of hanging), layouts and their position maps, shard /
// gather round trips, the merge of empty partial rows, the schedules' host view memory, and the
// argument errors every rank must raise together (zigzag N % 2P, Ulysses H % U, values that
// differ between ranks, a host communicator for the GPU schedules).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <vector>

#include "block_attention.hpp"
#include "dist_case.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/dist/device_communicator.hpp"
#include "longctx/dist/gather.hpp"
#include "longctx/dist/in_process.hpp"
#include "longctx/dist/layout.hpp"
#include "longctx/dist/parallel_attention.hpp"
#include "test_util.hpp"
#include "view_memory.hpp"

namespace longctx::dist {
namespace {

// ---- communicator -------------------------------------------------------------------------

TEST(InProcess, PointToPointMatchesInPostingOrder) {
  run_in_process(3, [](Communicator& c) {
    const int next = (c.rank() + 1) % 3, prev = (c.rank() + 2) % 3;
    std::vector<int> a(5, c.rank() * 10), b(5, c.rank() * 10 + 1), ra(5), rb(5);
    Request r1 = c.irecv(ra.data(), 20, prev, 7);
    Request r2 = c.irecv(rb.data(), 20, prev, 7);
    Request s1 = c.isend(a.data(), 20, next, 7);
    Request s2 = c.isend(b.data(), 20, next, 7);
    r2.wait();  // waiting out of order still gets the second message
    r1.wait();
    EXPECT_EQ(ra[4], prev * 10);
    EXPECT_EQ(rb[0], prev * 10 + 1);
    EXPECT_EQ(c.bytes_sent(), 40);
  });
}

TEST(InProcess, GroupedExchangeMatchesPerTagAndPeer) {
  // The ring's step: send right and receive from the left, two tags in one group, posted in
  // opposite orders on odd and even ranks; the default exchange must still pair them.
  run_in_process(3, [](Communicator& c) {
    const int next = (c.rank() + 1) % 3, prev = (c.rank() + 2) % 3;
    std::vector<int> kv(4, c.rank()), dkv(6, 100 + c.rank()), kv_in(4, -1), dkv_in(6, -1);
    std::vector<Transfer> ops = {{Transfer::Kind::recv, kv_in.data(), 16, prev, 1},
                                 {Transfer::Kind::send, kv.data(), 16, next, 1},
                                 {Transfer::Kind::recv, dkv_in.data(), 24, prev, 2},
                                 {Transfer::Kind::send, dkv.data(), 24, next, 2}};
    if (c.rank() % 2) std::reverse(ops.begin(), ops.end());
    c.exchange(ops).wait();
    EXPECT_EQ(kv_in, std::vector<int>(4, prev));
    EXPECT_EQ(dkv_in, std::vector<int>(6, 100 + prev));
    EXPECT_EQ(c.bytes_sent(), 40);
    EXPECT_FALSE(c.device_buffers());
    EXPECT_EQ(&c.control(), &c);  // a host communicator carries its own control traffic
  });
}

TEST(InProcess, CollectivesWithUnevenSplits) {
  run_in_process(4, [](Communicator& c) {
    const int p = c.size(), me = c.rank();
    // alltoallv: rank i sends (i + j + 1) bytes of value i·16 + j to rank j.
    std::vector<int64_t> sb(p), so(p), rb(p), ro(p);
    int64_t st = 0, rt = 0;
    for (int j = 0; j < p; ++j) {
      sb[j] = me + j + 1;
      so[j] = st;
      st += sb[j];
      rb[j] = j + me + 1;
      ro[j] = rt;
      rt += rb[j];
    }
    std::vector<uint8_t> send(static_cast<size_t>(st)), recv(static_cast<size_t>(rt));
    for (int j = 0; j < p; ++j) std::fill_n(send.begin() + so[j], sb[j], uint8_t(me * 16 + j));
    c.alltoallv(send.data(), sb, so, recv.data(), rb, ro);
    for (int j = 0; j < p; ++j)
      for (int64_t i = 0; i < rb[j]; ++i) EXPECT_EQ(recv[size_t(ro[j] + i)], j * 16 + me);
    // allgatherv: rank i contributes i + 1 floats of value i.
    std::vector<int64_t> gb(p), go(p);
    int64_t gt = 0;
    for (int j = 0; j < p; ++j) {
      gb[j] = (j + 1) * 4;
      go[j] = gt;
      gt += gb[j];
    }
    std::vector<float> mine(static_cast<size_t>(me + 1), float(me)),
        all(static_cast<size_t>(gt / 4));
    c.allgatherv(mine.data(), gb[me], all.data(), gb, go);
    for (int j = 0; j < p; ++j) EXPECT_EQ(all[size_t(go[j] / 4)], float(j));
    // reduce_scatter_sum: part j has j + 2 floats; everyone contributes rank + 1.
    std::vector<int64_t> counts(p);
    for (int j = 0; j < p; ++j) counts[j] = j + 2;
    std::vector<float> contrib(size_t(std::accumulate(counts.begin(), counts.end(), int64_t(0))),
                               float(me + 1));
    std::vector<float> part(static_cast<size_t>(counts[me]));
    c.reduce_scatter_sum(contrib.data(), part.data(), counts);
    for (float x : part) EXPECT_EQ(x, 10.f);  // 1 + 2 + 3 + 4
    double d[2] = {double(me), -double(me)};
    c.allreduce(d, 2, ReduceOp::max);
    EXPECT_EQ(d[0], 3.0);
    EXPECT_EQ(d[1], 0.0);
    int64_t s = me;
    c.allreduce(&s, 1, ReduceOp::sum);
    EXPECT_EQ(s, 6);
    int64_t b = me == 2 ? 42 : 0;
    c.broadcast(&b, 8, 2);
    EXPECT_EQ(b, 42);
    c.barrier();
  });
}

TEST(InProcess, SplitMakesIndependentGroups) {
  run_in_process(4, [](Communicator& c) {
    auto sub = c.split(c.rank() % 2, -c.rank());  // key reverses the order
    EXPECT_EQ(sub->size(), 2);
    EXPECT_EQ(sub->rank(), c.rank() < 2 ? 1 : 0);
    int64_t x = c.rank();
    sub->allreduce(&x, 1, ReduceOp::sum);
    EXPECT_EQ(x, c.rank() % 2 == 0 ? 2 : 4);
  });
}

TEST(InProcess, OneRankFailingAbortsTheOthersInsteadOfHanging) {
  try {
    run_in_process(3, [](Communicator& c) {
      if (c.rank() == 1) throw ArgumentError("x", "something", "else");
      c.barrier();  // would wait forever for rank 1
    });
    FAIL() << "expected the rank's error";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "x");
  }
}

TEST(InProcess, MismatchedMessageSizesFailClearly) {
  EXPECT_THROW(run_in_process(2,
                              [](Communicator& c) {
                                char buf[16] = {0};
                                if (c.rank() == 0)
                                  c.isend(buf, 8, 1, 0).wait();
                                else
                                  c.irecv(buf, 16, 0, 0).wait();
                              }),
               RuntimeError);
}

// ---- layouts ------------------------------------------------------------------------------

TEST(Layout, EveryTokenOnExactlyOneRank) {
  for (LayoutKind kind : {LayoutKind::contiguous, LayoutKind::zigzag, LayoutKind::striped}) {
    for (int r = 1; r <= 4; ++r) {
      for (int u = 1; u <= 2; ++u) {
        const int64_t n = kind == LayoutKind::zigzag ? 2 * r * 7 : 53;
        const SequenceLayout L(kind, n, r, u);
        std::set<int64_t> seen;
        int64_t total = 0;
        for (int p = 0; p < L.ranks(); ++p) {
          const auto pos = L.positions(p);
          EXPECT_EQ(int64_t(pos.size()), L.rows(p));
          for (int64_t x : pos) seen.insert(x);
          total += L.rows(p);
        }
        EXPECT_EQ(total, n);
        ASSERT_EQ(int64_t(seen.size()), n) << L.describe();
        EXPECT_EQ(*seen.begin(), 0);
        EXPECT_EQ(*seen.rbegin(), n - 1);
      }
    }
  }
}

TEST(Layout, PositionMapsAreTheDocumentedOnes) {
  const SequenceLayout z(LayoutKind::zigzag, 16, 4);  // chunks of 2: rank 1 holds chunks 1 and 6
  EXPECT_EQ(z.positions(1), (std::vector<int64_t>{2, 3, 12, 13}));
  const SequenceLayout s(LayoutKind::striped, 10, 3);  // token t on rank t mod 3
  EXPECT_EQ(s.positions(1), (std::vector<int64_t>{1, 4, 7}));
  EXPECT_EQ(s.positions(2), (std::vector<int64_t>{2, 5, 8}));
  const SequenceLayout c(LayoutKind::contiguous, 10, 3);  // 4, 3, 3
  EXPECT_EQ(c.positions(0), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(c.positions(2), (std::vector<int64_t>{7, 8, 9}));
  const SequenceLayout usp(LayoutKind::zigzag, 16, 2, 2);  // groups hold chunks {0,3}, {1,2} of 4
  EXPECT_EQ(usp.positions(0), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(usp.positions(1), (std::vector<int64_t>{12, 13, 14, 15}));
  EXPECT_EQ(usp.positions(2), (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST(Layout, ZigzagNeedsAMultipleOfTwoP) {
  try {
    SequenceLayout(LayoutKind::zigzag, 30, 4);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "seq");
    EXPECT_NE(std::string(e.what()).find("multiple of 2·P = 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SequenceLayout(LayoutKind::contiguous, 3, 4), ArgumentError);  // N < P
}

TEST(Layout, ShardGatherRoundTripIsBitwise) {
  Rng rng(fresh_seed());
  for (LayoutKind kind : {LayoutKind::contiguous, LayoutKind::zigzag, LayoutKind::striped}) {
    for (bool heads_major : {false, true}) {
      const int64_t n = 24;
      auto full = longctx::test::random_operand(DType::bf16, 2, n, 3, 40, rng, 1.f, heads_major);
      auto back = longctx::test::make_operand(DType::bf16, 2, n, 3, 40, !heads_major);
      const SequenceLayout L(kind, n, 3, 2);
      for (int r = 0; r < L.ranks(); ++r) {
        Tensor local = shard(full.view, L, r);
        gather_rows(local, L, r, back.view);
      }
      EXPECT_EQ(longctx::test::to_f64(full.view), longctx::test::to_f64(back.view));
      Tensor lse(DType::f32, {2, 3, n}), lse_back(DType::f32, {2, 3, n});
      fill_normal(lse, rng);
      for (int r = 0; r < L.ranks(); ++r) gather_rows(shard(lse, L, r, 2), L, r, lse_back, 2);
      EXPECT_TRUE(longctx::test::bitwise_equal(lse, lse_back));
    }
  }
}

TEST(Layout, GatherToRootAndScatterFromRootRoundTrip) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(longctx::test::seed_note(seed));
  for (LayoutKind kind : {LayoutKind::contiguous, LayoutKind::zigzag, LayoutKind::striped}) {
    const SequenceLayout L(kind, 36, 3);
    Tensor full(DType::f16, {2, 36, 2, 8}), back(DType::f16, {2, 36, 2, 8});
    Rng rng(seed);
    fill_normal(full, rng);
    back.zero();
    run_in_process(3, [&](Communicator& c) {
      Tensor local(DType::f16, {2, L.rows(c.rank()), 2, 8});
      scatter_from_root(c, L, c.rank() == 0 ? full.view() : TensorView{}, local);
      EXPECT_TRUE(longctx::test::bitwise_equal(local, shard(full, L, c.rank())));
      gather_to_root(c, L, local, c.rank() == 0 ? back.view() : TensorView{});
    });
    EXPECT_TRUE(longctx::test::bitwise_equal(full, back)) << layout_kind_name(kind);
  }
}

// ---- host view memory (what the schedules use on the CPU) ---------------------------------

TEST(ViewMemory, HostFillAddStoreOnStridedViews) {
  const ViewMemory& mem = schedule_memory(Backend::cpu);
  EXPECT_EQ(&mem, &host_view_memory());
  // An LSE [B=2, H=3, n=4] seen as rows [B, n, H, 1]: strided, as the Ulysses exchange sees it.
  Tensor lse(DType::f32, {2, 3, 4});
  TensorView rows = lse.view();
  rows.rank = 4;
  rows.shape = {2, 4, 3, 1};
  rows.strides = {12, 1, 4, 1};
  mem.fill(rows, 2.f);
  std::vector<float> part(24);
  std::iota(part.begin(), part.end(), 0.f);  // logical order of `rows`: (b, i, h)
  mem.add(part.data(), rows);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t h = 0; h < 3; ++h)
        EXPECT_EQ(lse.data<float>()[(b * 3 + h) * 4 + i], 2.f + float((b * 4 + i) * 3 + h));
  // store: float32 into bf16, rounded; pack / unpack: bit for bit.
  Tensor bf(DType::bf16, {2, 3, 4});
  mem.store(lse.data<float>(), bf);
  EXPECT_EQ(load_as_f32(bf.view().data, DType::bf16, 5), lse.data<float>()[5]);
  std::vector<char> bytes(size_t(bf.nbytes()));
  Tensor back(DType::bf16, {2, 3, 4});
  mem.pack(bf, bytes.data());
  mem.unpack(bytes.data(), back);
  EXPECT_EQ(std::memcmp(back.view().data, bf.view().data, size_t(bf.nbytes())), 0);
}

TEST(ViewMemory, CudaSchedulesNeedACudaBuildAndADeviceCommunicator) {
  if (cuda_dist_available()) {
    // Built with CUDA: a host communicator is refused for Backend::cuda on every rank.
    run_in_process(2, [](Communicator& c) {
      ParallelOptions o;
      o.backend = Backend::cuda;
      EXPECT_THROW(ParallelAttention(c, parse_parallel("ring", 2), 64, o), ArgumentError);
    });
  } else {
    EXPECT_THROW(schedule_memory(Backend::cuda), ArgumentError);
    EXPECT_FALSE(nccl_available());
  }
}

// ---- merge of empty rows ------------------------------------------------------------------

TEST(BlockAttention, RowsThatSeeNothingStayEmptyThroughMerges) {
  // Queries at 0..7 against causal keys at 4..11 then 20..27: rows 0..3 see nothing in either.
  Rng rng(fresh_seed());
  auto q = longctx::test::random_operand(DType::f32, 1, 8, 2, 32, rng);
  auto k = longctx::test::random_operand(DType::f32, 1, 8, 1, 32, rng);
  auto v = longctx::test::random_operand(DType::f32, 1, 8, 1, 32, rng);
  ScratchTensor out(DType::f32, {1, 8, 2, 32}), lse(DType::f32, {1, 2, 8}), to, tl;
  out.zero();
  std::fill(lse.f32(), lse.f32() + 16, -INFINITY);
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  const std::vector<dist::Run> qr = {dist::Run{0, 8, 0, 1}};
  for (int64_t start : {4, 20}) {
    const std::vector<dist::Run> kr = {dist::Run{0, 8, start, 1}};
    const AttentionOptions options;
    accumulate_forward({q.view, qr, k.view, v.view, kr, spec, options}, out, lse, to, tl);
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 8; ++i) {
      const float l = lse.f32()[h * 8 + i];
      if (i < 4) {
        EXPECT_TRUE(std::isinf(l) && l < 0) << i;
        for (int c = 0; c < 32; ++c) EXPECT_EQ(out.f32()[(i * 2 + h) * 32 + c], 0.f);
      } else {
        EXPECT_TRUE(std::isfinite(l)) << i;
      }
    }
  EXPECT_FALSE(runs_may_see(qr, {dist::Run{0, 8, 20, 1}}, spec));
}

// ---- errors every rank raises together ----------------------------------------------------

// Runs body on P ranks and expects every rank to throw ArgumentError naming `argument`.
void expect_all_ranks_fail(int ranks, const std::string& argument,
                           const std::function<void(Communicator&)>& body) {
  std::vector<std::string> caught(static_cast<size_t>(ranks));
  run_in_process(ranks, [&](Communicator& c) {
    try {
      body(c);
    } catch (const ArgumentError& e) {
      caught[size_t(c.rank())] = e.argument() + ": " + e.what();
    }
  });
  for (int r = 0; r < ranks; ++r)
    EXPECT_EQ(caught[size_t(r)].rfind(argument + ":", 0), 0u)
        << "rank " << r << ": " << caught[size_t(r)];
}

TEST(DistErrors, ZigzagWithNNotAMultipleOfTwoPFailsOnEveryRank) {
  expect_all_ranks_fail(3, "seq", [](Communicator& c) {
    ParallelAttention pa(c, parse_parallel("zigzag", 3), 40);  // 40 % 6 != 0
  });
}

TEST(DistErrors, UlyssesWithHeadsNotDivisibleFailsOnEveryRank) {
  expect_all_ranks_fail(3, "heads", [](Communicator& c) {
    ParallelAttention pa(c, parse_parallel("ulysses", 3), 30);
    const int64_t n = pa.layout().rows(c.rank());
    Tensor q(DType::f32, {1, n, 4, 32}), k(DType::f32, {1, n, 1, 32}), v(DType::f32, {1, n, 1, 32});
    Tensor o(DType::f32, {1, n, 4, 32}), l(DType::f32, {1, 4, n});
    q.zero(), k.zero(), v.zero();
    pa.forward(q, k, v, AttentionSpec{}, o, l);
  });
}

TEST(DistErrors, ArgumentsThatDifferBetweenRanksFailOnEveryRank) {
  // Rank 1 believes the sequence is longer.
  expect_all_ranks_fail(2, "seq", [](Communicator& c) {
    ParallelAttention pa(c, parse_parallel("ring", 2), c.rank() == 1 ? 66 : 64);
  });
  // Rank 0 has a different head count (the shapes agree locally on each rank).
  expect_all_ranks_fail(2, "heads", [](Communicator& c) {
    ParallelAttention pa(c, parse_parallel("ring", 2), 64);
    const int64_t h = c.rank() == 0 ? 2 : 4;
    Tensor q(DType::f32, {1, 32, h, 32}), k(DType::f32, {1, 32, 1, 32}),
        v(DType::f32, {1, 32, 1, 32});
    Tensor o(DType::f32, {1, 32, h, 32}), l(DType::f32, {1, h, 32});
    q.zero(), k.zero(), v.zero();
    pa.forward(q, k, v, AttentionSpec{}, o, l);
  });
  // Only rank 2's local tensor has the wrong number of rows.
  expect_all_ranks_fail(3, "q", [](Communicator& c) {
    ParallelAttention pa(c, parse_parallel("striped", 3), 30);
    const int64_t n = c.rank() == 2 ? 11 : 10;
    Tensor q(DType::f32, {1, n, 2, 32}), k(DType::f32, {1, 10, 1, 32}),
        v(DType::f32, {1, 10, 1, 32});
    Tensor o(DType::f32, {1, n, 2, 32}), l(DType::f32, {1, 2, n});
    q.zero(), k.zero(), v.zero();
    pa.forward(q, k, v, AttentionSpec{}, o, l);
  });
}

TEST(DistErrors, ParallelNamesAreParsedStrictly) {
  EXPECT_EQ(parse_parallel("usp:2x3", 6).ulysses, 2);
  EXPECT_EQ(parse_parallel("usp:2x3", 6).ring, 3);
  for (const char* bad : {"rings", "usp:2x2", "usp:0x6", "usp:2y3", "usp:x"}) {
    try {
      parse_parallel(bad, 6);
      FAIL() << bad;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), "--parallel") << bad;
    }
  }
}

}  // namespace
}  // namespace longctx::dist
