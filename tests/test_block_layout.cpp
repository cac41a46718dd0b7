// BlockLayout::build against a brute-force classification of every block, and
// count_visible_pairs against a brute-force count, on random masks, positions and doc ids.
//
// Contract (block_layout.cpp): exact for contiguous positions without documents; with explicit
// position arrays or documents the layout may be conservative (partial instead of empty or
// full) but never wrong: an empty block has no visible pair and a full block no masked pair.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"
#include "mask_brute_force.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

struct RandomMask {
  AttentionSpec spec;
  std::vector<int32_t> q_docs, k_docs;
  std::vector<int64_t> q_pos, k_pos;
  int64_t batch = 1, n = 0, m = 0;
  bool exact = true;  // contiguous positions and no documents
  std::string text;
};

// Draws a random mask: causal or not, maybe a window, maybe documents, maybe offsets or
// explicit positions. Not copyable (spec points into the vectors).
void draw(RandomMask& r, Rng& rng) {
  r.batch = rng.uniform_int(1, 3);
  r.n = rng.uniform_int(1, 150);
  r.m = rng.uniform_int(1, 150);
  r.spec.mask = rng.uniform_int(0, 1) ? MaskKind::causal : MaskKind::full;
  if (rng.uniform_int(0, 1)) r.spec.window = Window{rng.uniform_int(0, 40), rng.uniform_int(0, 40)};
  const int64_t pos_mode = rng.uniform_int(0, 3);
  if (pos_mode == 1) {
    r.spec.q_positions = Positions::from_offset(rng.uniform_int(-100, 100));
    r.spec.k_positions = Positions::from_offset(rng.uniform_int(-100, 100));
  } else if (pos_mode == 2) {
    for (int64_t i = 0; i < r.n; ++i) r.q_pos.push_back(rng.uniform_int(-20, 170));
    for (int64_t j = 0; j < r.m; ++j) r.k_pos.push_back(rng.uniform_int(-20, 170));
    r.spec.q_positions = Positions::from_array(r.q_pos.data());
    r.spec.k_positions = Positions::from_array(r.k_pos.data());
    r.exact = false;
  }
  if (rng.uniform_int(0, 2) == 0) {
    // Sorted doc ids (packed sequences), sometimes with ids only one side has.
    const int64_t docs = rng.uniform_int(1, 6);
    for (int64_t b = 0; b < r.batch; ++b) {
      std::vector<int32_t> q, k;
      for (int64_t i = 0; i < r.n; ++i) q.push_back(int32_t(rng.uniform_int(0, docs)));
      for (int64_t j = 0; j < r.m; ++j) k.push_back(int32_t(rng.uniform_int(0, docs)));
      if (rng.uniform_int(0, 1)) {
        std::sort(q.begin(), q.end());
        std::sort(k.begin(), k.end());
      }
      r.q_docs.insert(r.q_docs.end(), q.begin(), q.end());
      r.k_docs.insert(r.k_docs.end(), k.begin(), k.end());
    }
    r.spec.q_doc_ids = r.q_docs.data();
    r.spec.k_doc_ids = r.k_docs.data();
    r.exact = false;
  }
  std::ostringstream os;
  os << "B=" << r.batch << " N=" << r.n << " M=" << r.m << " spec=" << r.spec.describe()
     << " pos_mode=" << pos_mode;
  r.text = os.str();
}

TEST(BlockLayout, AgreesWithBruteForceClassification) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int trials = small_sizes() ? 40 : 200;
  for (int t = 0; t < trials; ++t) {
    RandomMask r;
    draw(r, rng);
    const int bq = int(rng.uniform_int(1, 40)), bk = int(rng.uniform_int(1, 40));
    SCOPED_TRACE(r.text + " block " + std::to_string(bq) + "x" + std::to_string(bk));
    const ResolvedMask mask = resolve_mask(r.spec, r.n, r.m);
    for (int64_t b = 0; b < r.batch; ++b) {
      const BlockLayout L = BlockLayout::build(mask, b, bq, bk);
      ASSERT_EQ(L.num_q_blocks(), (r.n + bq - 1) / bq);
      ASSERT_EQ(L.num_k_blocks(), (r.m + bk - 1) / bk);
      int64_t counts[3] = {0, 0, 0};
      std::vector<std::vector<BlockEntry>> by_k(size_t(L.num_k_blocks()));
      for (int64_t qb = 0; qb < L.num_q_blocks(); ++qb) {
        ASSERT_EQ(L.q_begin(qb), qb * bq);
        ASSERT_EQ(L.q_end(qb), std::min(r.n, (qb + 1) * bq));
        std::vector<BlockEntry> expected_row;
        for (int64_t kb = 0; kb < L.num_k_blocks(); ++kb) {
          const BlockKind want =
              brute_force_kind(mask, b, L.q_begin(qb), L.q_end(qb), L.k_begin(kb), L.k_end(kb));
          const BlockKind got = L.kind(qb, kb);
          ++counts[int(got)];
          ASSERT_TRUE(layout_kind_ok(got, want, r.exact))
              << "block (" << qb << ", " << kb << ") batch " << b;
          if (got != BlockKind::empty) {
            expected_row.push_back({int32_t(kb), got});
            by_k[size_t(kb)].push_back({int32_t(qb), got});
          }
        }
        const auto row = L.key_blocks(qb);
        ASSERT_EQ(row.size(), expected_row.size());
        for (size_t e = 0; e < row.size(); ++e) {
          EXPECT_EQ(row[e].block, expected_row[e].block);
          EXPECT_EQ(int(row[e].kind), int(expected_row[e].kind));
        }
      }
      for (int64_t kb = 0; kb < L.num_k_blocks(); ++kb) {
        const auto col = L.query_blocks(kb);
        ASSERT_EQ(col.size(), by_k[size_t(kb)].size()) << "key block " << kb;
        for (size_t e = 0; e < col.size(); ++e) {
          EXPECT_EQ(col[e].block, by_k[size_t(kb)][e].block);
          EXPECT_EQ(int(col[e].kind), int(by_k[size_t(kb)][e].kind));
        }
      }
      EXPECT_EQ(L.count(BlockKind::empty), counts[0]);
      EXPECT_EQ(L.count(BlockKind::full), counts[1]);
      EXPECT_EQ(L.count(BlockKind::partial), counts[2]);
    }
  }
}

TEST(BlockLayout, CausalSquareIsLowerTriangle) {
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  const ResolvedMask mask = resolve_mask(spec, 100, 100);
  const BlockLayout L = BlockLayout::build(mask, 0, 16, 16);  // 7 x 7 blocks
  EXPECT_EQ(L.count(BlockKind::partial), 7);                  // the diagonal
  EXPECT_EQ(L.count(BlockKind::full), 21);
  EXPECT_EQ(L.count(BlockKind::empty), 21);
}

TEST(BlockLayout, RejectsBadBlockSizes) {
  const ResolvedMask mask = resolve_mask(AttentionSpec{}, 10, 10);
  EXPECT_THROW(BlockLayout::build(mask, 0, 0, 8), ArgumentError);
  EXPECT_THROW(BlockLayout::build(mask, 0, 8, -1), ArgumentError);
}

TEST(CountVisiblePairs, EqualsBruteForce) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int trials = small_sizes() ? 40 : 200;
  for (int t = 0; t < trials; ++t) {
    RandomMask r;
    draw(r, rng);
    SCOPED_TRACE(r.text);
    const ResolvedMask mask = resolve_mask(r.spec, r.n, r.m);
    int64_t brute = 0;
    for (int64_t b = 0; b < r.batch; ++b)
      for (int64_t i = 0; i < r.n; ++i)
        for (int64_t j = 0; j < r.m; ++j) brute += mask.visible(b, i, j) ? 1 : 0;
    EXPECT_EQ(count_visible_pairs(mask, r.batch), brute);
  }
}

TEST(CountVisiblePairs, CausalIsAboutHalf) {
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  const int64_t n = 1000;
  EXPECT_EQ(count_visible_pairs(resolve_mask(spec, n, n), 3), 3 * n * (n + 1) / 2);
  EXPECT_EQ(count_visible_pairs(resolve_mask(AttentionSpec{}, 37, 41), 2), 2 * 37 * 41);
}

}  // namespace
}  // namespace longctx::test
