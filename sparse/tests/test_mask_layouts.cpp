// The block layout and the CPU kernels' tile masking for the masks of issue 3 (global tokens,
// block-sparse grids, both combined with causal / window / documents / positions) against a
// brute-force evaluation of ResolvedMask::visible.
//
// Contract (block_layout.cpp): exact for contiguous positions without documents when each
// layout block lies inside one grid block; otherwise conservative (partial instead of empty or
// full) but never wrong. The tile masking (forward_mask.hpp) must equal the predicate exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "cpu/forward_mask.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/sparse/block_sparse.hpp"
#include "mask_brute_force.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

struct RandomMask {
  AttentionSpec spec;
  BlockSparseGrid grid;
  std::vector<int32_t> q_docs, k_docs;
  std::vector<int64_t> q_pos, k_pos;
  int64_t batch = 1, n = 0, m = 0;
  bool contiguous = true;  // positions are offsets (no explicit arrays)
  bool docs = false;
  std::string text;
};

// A random spec with a window and global tokens, sometimes a block-sparse grid of random kinds
// (then positions are kept inside the grid), documents and explicit positions.
void draw(RandomMask& r, Rng& rng, bool with_grid) {
  r.batch = rng.uniform_int(1, 2);
  r.n = rng.uniform_int(1, 150);
  r.m = rng.uniform_int(1, 150);
  r.spec.mask = rng.uniform_int(0, 1) ? MaskKind::causal : MaskKind::full;
  r.spec.window = Window{rng.uniform_int(0, 30), rng.uniform_int(0, 30)};
  r.spec.global_tokens = rng.uniform_int(0, 40);
  const int64_t pos_mode = rng.uniform_int(0, 2);
  const int64_t lo = with_grid ? 0 : -60;  // a grid must cover every position
  if (pos_mode == 1) {
    r.spec.q_positions = Positions::from_offset(rng.uniform_int(lo, 60));
    r.spec.k_positions = Positions::from_offset(rng.uniform_int(lo, 60));
  } else if (pos_mode == 2) {
    for (int64_t i = 0; i < r.n; ++i) r.q_pos.push_back(rng.uniform_int(lo, 200));
    for (int64_t j = 0; j < r.m; ++j) r.k_pos.push_back(rng.uniform_int(lo, 200));
    r.spec.q_positions = Positions::from_array(r.q_pos.data());
    r.spec.k_positions = Positions::from_array(r.k_pos.data());
    r.contiguous = false;
  } else if (with_grid && r.n > r.m) {
    r.spec.q_positions = Positions::from_offset(0);  // default bottom-right would go negative
  }
  if (rng.uniform_int(0, 3) == 0) {
    const int64_t docs = rng.uniform_int(1, 5);
    for (int64_t b = 0; b < r.batch; ++b) {
      for (int64_t i = 0; i < r.n; ++i) r.q_docs.push_back(int32_t(rng.uniform_int(0, docs)));
      for (int64_t j = 0; j < r.m; ++j) r.k_docs.push_back(int32_t(rng.uniform_int(0, docs)));
    }
    r.spec.q_doc_ids = r.q_docs.data();
    r.spec.k_doc_ids = r.k_docs.data();
    r.docs = true;
  }
  if (with_grid) {
    r.grid.block_q = 8 * rng.uniform_int(1, 4);
    r.grid.block_k = 8 * rng.uniform_int(1, 4);
    r.grid.q_blocks = 260 / r.grid.block_q + 1;  // covers positions up to 260
    r.grid.k_blocks = 260 / r.grid.block_k + 1;
    for (int64_t e = 0; e < r.grid.q_blocks * r.grid.k_blocks; ++e)
      r.grid.kinds.push_back(BlockKind(rng.uniform_int(0, 2)));
    r.spec.block_sparse = &r.grid;
  }
  std::ostringstream os;
  os << "B=" << r.batch << " N=" << r.n << " M=" << r.m << " spec=" << r.spec.describe()
     << " pos_mode=" << pos_mode;
  r.text = os.str();
}

// Whether rows [q0, q1) × keys [k0, k1) lie inside one grid block (contiguous positions).
bool inside_one_grid_block(const ResolvedMask& m, int64_t q0, int64_t q1, int64_t k0, int64_t k1) {
  if (!m.block_sparse) return true;
  const BlockSparseGrid& g = *m.block_sparse;
  return m.q_pos.at(q0) / g.block_q == m.q_pos.at(q1 - 1) / g.block_q &&
         m.k_pos.at(k0) / g.block_k == m.k_pos.at(k1 - 1) / g.block_k;
}

void check_layouts(bool with_grid) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int trials = small_sizes() ? 30 : 150;
  for (int t = 0; t < trials; ++t) {
    RandomMask r;
    draw(r, rng, with_grid);
    // Layout blocks that nest in grid blocks half of the time.
    const bool nest = with_grid && rng.uniform_int(0, 1);
    const int bq = nest ? int(r.grid.block_q / 8 * 4) : int(rng.uniform_int(1, 40));
    const int bk = nest ? int(r.grid.block_k / 4) : int(rng.uniform_int(1, 40));
    SCOPED_TRACE(r.text + " block " + std::to_string(bq) + "x" + std::to_string(bk));
    const ResolvedMask mask = resolve_mask(r.spec, r.n, r.m);
    for (int64_t b = 0; b < r.batch; ++b) {
      const BlockLayout L = BlockLayout::build(mask, b, bq, bk);
      for (int64_t qb = 0; qb < L.num_q_blocks(); ++qb)
        for (int64_t kb = 0; kb < L.num_k_blocks(); ++kb) {
          const int64_t q0 = L.q_begin(qb), q1 = L.q_end(qb), k0 = L.k_begin(kb), k1 = L.k_end(kb);
          const BlockKind want = brute_force_kind(mask, b, q0, q1, k0, k1);
          const bool exact = r.contiguous && !r.docs && inside_one_grid_block(mask, q0, q1, k0, k1);
          ASSERT_TRUE(layout_kind_ok(L.kind(qb, kb), want, exact))
              << "block (" << qb << ", " << kb << ") batch " << b;
        }
    }
  }
}

TEST(MaskLayouts, GlobalTokensLayoutAgreesWithBruteForce) {
  check_layouts(false);
}

TEST(MaskLayouts, BlockSparseLayoutAgreesWithBruteForce) {
  check_layouts(true);
}

// mask_partial_block / keep_partial_block / visible_key_span on random tiles against the
// predicate, pair by pair.
void check_tile_masking(bool with_grid) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int trials = small_sizes() ? 60 : 300;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int t = 0; t < trials; ++t) {
    RandomMask r;
    draw(r, rng, with_grid);
    SCOPED_TRACE(r.text);
    const ResolvedMask mask = resolve_mask(r.spec, r.n, r.m);
    const int64_t b = rng.uniform_int(0, r.batch - 1);
    const int64_t q0 = rng.uniform_int(0, r.n - 1), rows = rng.uniform_int(1, r.n - q0);
    const int64_t k0 = rng.uniform_int(0, r.m - 1), keys = rng.uniform_int(1, r.m - k0);
    const size_t ld = size_t(keys + rng.uniform_int(0, 9));
    std::vector<float> s(size_t(rows) * ld, 1.f);
    std::vector<uint32_t> keep(size_t(rows) * ld, 7u);
    cpu::mask_partial_block(mask, b, q0, rows, k0, keys, s.data(), ld);
    cpu::keep_partial_block(mask, b, q0, rows, k0, keys, keep.data(), ld);
    const cpu::KeySpan span = cpu::visible_key_span(mask, q0, rows, k0, keys);
    for (int64_t r0 = 0; r0 < rows; ++r0) {
      for (int64_t c = 0; c < keys; ++c) {
        const bool vis = mask.visible(b, q0 + r0, k0 + c);
        const float sv = s[size_t(r0) * ld + size_t(c)];
        ASSERT_EQ(sv == kNegInf, !vis) << "score row " << q0 + r0 << " key " << k0 + c;
        ASSERT_EQ(keep[size_t(r0) * ld + size_t(c)], vis ? ~0u : 0u)
            << "keep row " << q0 + r0 << " key " << k0 + c;
        if (vis) {
          ASSERT_TRUE(c >= span.begin && c < span.end) << "key span misses key " << c;
        }
      }
      for (size_t c = size_t(keys); c < ld; ++c) ASSERT_EQ(keep[size_t(r0) * ld + c], 0u);
    }
  }
}

TEST(MaskLayouts, TileMaskingWithGlobalTokensEqualsPredicate) {
  check_tile_masking(false);
}

TEST(MaskLayouts, TileMaskingWithBlockSparseGridEqualsPredicate) {
  check_tile_masking(true);
}

TEST(MaskLayouts, KernelBlocksNestInGridBlocks) {
  BlockSparseGrid g;
  g.block_q = g.block_k = 96;
  g.q_blocks = g.k_blocks = 1;
  g.kinds = {BlockKind::full};
  AttentionSpec spec;
  spec.block_sparse = &g;
  const ResolvedMask m = resolve_mask(spec, 96, 96);
  EXPECT_EQ(cpu::block_size_for_grid(m, true, 128), 96);
  EXPECT_EQ(cpu::block_size_for_grid(m, false, 64), 48);
  g.block_q = 100;  // no multiple of 8 divides it: the preferred size
  EXPECT_EQ(cpu::block_size_for_grid(resolve_mask(spec, 96, 96), true, 64), 64);
  EXPECT_EQ(cpu::block_size_for_grid(resolve_mask(AttentionSpec{}, 9, 9), true, 64), 64);
}

}  // namespace
}  // namespace longctx::test
