// Block-sparse layouts: random (seeded density) and file-based grids driving the CPU forward and
// backward, against the float64 oracle that sees the same grid as a predicate; the text format
// (round trip, errors with line numbers); validation of grids against the problem.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "attention_case.hpp"
#include "longctx/core/error.hpp"
#include "longctx/sparse/block_sparse.hpp"

namespace longctx::test {
namespace {

using sparse::RandomLayoutOptions;

// A case whose spec points at a random grid over positions [0, M) (the default positions of
// N <= M queries lie there). The grid is shared so that the case stays copyable.
AttentionCase block_sparse_case(std::string name, int64_t n, int64_t m, int64_t block,
                                double density, bool causal) {
  AttentionCase c;
  c.n = sized(n);
  c.m = sized(m);
  c.mask = causal ? MaskKind::causal : MaskKind::full;
  RandomLayoutOptions o;
  o.block = block;
  o.density = density;
  o.seed = fresh_seed();
  o.causal = causal;
  auto grid = std::make_shared<BlockSparseGrid>(sparse::random_block_sparse(c.m, c.m, o));
  c.name = std::move(name) + " block-sparse(" + std::to_string(block) + ", density " +
           std::to_string(density) + ", layout seed " + std::to_string(o.seed) + ")";
  c.customize_spec = [grid](AttentionSpec& s) { s.block_sparse = grid.get(); };
  return c;
}

std::vector<AttentionCase> all_cases() {
  std::vector<AttentionCase> cases;
  for (int64_t n : {37, 97, 131, 577}) {
    AttentionCase c = block_sparse_case("causal_n" + std::to_string(n), n, n, 16, 0.3, true);
    c.heads = 4;
    c.kv_heads = 2;
    cases.push_back(c);
  }
  cases.push_back(block_sparse_case("full_n577_b64", 577, 577, 64, 0.2, false));
  cases.push_back(block_sparse_case("n_lt_m", 97, 131, 24, 0.5, true));
  cases.push_back(block_sparse_case("density0", 131, 131, 16, 0.0, true));
  cases.push_back(block_sparse_case("density1", 131, 131, 32, 1.0, false));
  for (int threads : {1, 2}) {
    AttentionCase c =
        block_sparse_case("bf16_threads" + std::to_string(threads), 577, 577, 32, 0.25, true);
    c.dtype = DType::bf16;
    c.heads = 8;
    c.kv_heads = 2;
    c.options.threads = threads;
    cases.push_back(c);
  }
  {  // kernel blocks straddling grid blocks: the pair-by-pair path
    AttentionCase c = block_sparse_case("straddling_blocks", 131, 131, 24, 0.4, true);
    c.options.block_q = 16;
    c.options.block_k = 40;
    cases.push_back(c);
  }
  {  // the inner predicate of partial blocks: a window with global tokens
    AttentionCase c = block_sparse_case("inner_local_global", 131, 131, 16, 0.3, true);
    c.window = Window{20, 0};
    auto grid_setter = c.customize_spec;
    c.customize_spec = [grid_setter](AttentionSpec& s) {
      grid_setter(s);
      s.global_tokens = 5;
    };
    cases.push_back(c);
  }
  {
    AttentionCase c = block_sparse_case("documents", 131, 131, 16, 0.5, false);
    c.docs = Docs::packed;
    c.batch = 2;
    cases.push_back(c);
  }
  return cases;
}

class BlockSparse : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(BlockSparse, ForwardAndBackwardMatchOracle) {
  check_attention_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, BlockSparse, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<AttentionCase>& info) {
                           return info.param.name.substr(0, info.param.name.find(' '));
                         });

TEST(BlockSparseLayout, RandomLayoutIsSeededAndHasItsDensity) {
  RandomLayoutOptions o;
  o.block = 16;
  o.density = 0.25;
  o.seed = fresh_seed();
  SCOPED_TRACE(seed_note(o.seed));
  const BlockSparseGrid a = sparse::random_block_sparse(16 * 200, 16 * 200, o);
  const BlockSparseGrid b = sparse::random_block_sparse(16 * 200, 16 * 200, o);
  EXPECT_EQ(a.kinds, b.kinds);
  ASSERT_EQ(a.q_blocks, 200);
  int64_t off_diagonal = 0, kept = 0;
  for (int64_t qb = 0; qb < a.q_blocks; ++qb)
    for (int64_t kb = 0; kb < a.k_blocks; ++kb) {
      if (qb == kb) {
        EXPECT_EQ(int(a.at(qb, kb)), int(BlockKind::full));
        continue;
      }
      ++off_diagonal;
      kept += a.at(qb, kb) != BlockKind::empty;
    }
  // 39800 Bernoulli(0.25) draws: 10 standard deviations is 0.0217.
  EXPECT_NEAR(double(kept) / double(off_diagonal), 0.25, 0.022);
  o.causal = true;
  const BlockSparseGrid c = sparse::random_block_sparse(16 * 200, 16 * 200, o);
  for (int64_t qb = 0; qb < c.q_blocks; ++qb)
    for (int64_t kb = qb; kb < c.k_blocks; ++kb)
      EXPECT_EQ(int(c.at(qb, kb)), int(qb == kb ? BlockKind::partial : BlockKind::empty));
  o.seed += 1;
  EXPECT_NE(sparse::random_block_sparse(16 * 200, 16 * 200, o).kinds, c.kinds);
}

TEST(BlockSparseLayout, TextFormatRoundTrips) {
  RandomLayoutOptions o;
  o.block = 24;
  o.density = 0.3;
  o.seed = fresh_seed();
  const BlockSparseGrid g = sparse::random_block_sparse(1000, 700, o);
  std::stringstream text;
  sparse::write_block_sparse(g, text);
  const BlockSparseGrid back = sparse::read_block_sparse(text, "layout");
  EXPECT_EQ(back.block_q, g.block_q);
  EXPECT_EQ(back.block_k, g.block_k);
  EXPECT_EQ(back.q_blocks, g.q_blocks);
  EXPECT_EQ(back.k_blocks, g.k_blocks);
  EXPECT_EQ(back.kinds, g.kinds);
}

TEST(BlockSparseLayout, ReadsCommentsSpacesAndRectangularBlocks) {
  std::istringstream text(
      "# a causal band\n\nblock-sparse 16 8  # positions per block\ngrid 3 4\n"
      "2 1 0 0\n0120\n  1 0 1 2 \n");
  const BlockSparseGrid g = sparse::read_block_sparse(text, "layout");
  EXPECT_EQ(g.block_q, 16);
  EXPECT_EQ(g.block_k, 8);
  ASSERT_EQ(g.kinds.size(), 12u);
  EXPECT_EQ(int(g.at(0, 0)), 2);
  EXPECT_EQ(int(g.at(1, 2)), 2);
  EXPECT_EQ(int(g.at(2, 3)), 2);
  EXPECT_EQ(int(g.at(2, 1)), 0);
  EXPECT_NEAR(sparse::block_density(g), 7.0 / 12.0, 1e-12);
}

// The error names the argument and, for a bad line, its number.
void expect_read_error(const std::string& text, const std::string& line_note) {
  std::istringstream in(text);
  try {
    sparse::read_block_sparse(in, "--layout-file");
    FAIL() << "no error for:\n" << text;
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--layout-file");
    EXPECT_NE(std::string(e.what()).find(line_note), std::string::npos) << e.what();
  }
}

TEST(BlockSparseLayout, BadFilesGiveErrorsWithLineNumbers) {
  expect_read_error("", "end of the file");
  expect_read_error("grid 2 2\n", "line 1");
  expect_read_error("block-sparse 0 16\ngrid 1 1\n1\n", "line 1");
  expect_read_error("block-sparse 16 16\ngrid 2\n", "line 2");
  expect_read_error("block-sparse 16 16\ngrid 2 2\n10\n13\n", "line 4");
  expect_read_error("block-sparse 16 16\ngrid 2 2\n10\n1\n", "line 4");
  expect_read_error("block-sparse 16 16\ngrid 2 2\n10\n", "only 1 rows");
  expect_read_error("block-sparse 16 16\ngrid 1 2\n10\n11\n", "line 4");
  try {
    sparse::load_block_sparse("/nonexistent/layout.txt", "--layout-file");
    FAIL() << "no error for a missing file";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--layout-file");
  }
}

TEST(BlockSparseLayout, FileLayoutDrivesTheKernelsLikeTheOracle) {
  // A hand-written layout through a real file: band, far blocks, partial blocks under causal.
  const std::string path = ::testing::TempDir() + "/longctx_layout_test.txt";
  {
    std::ofstream f(path);
    f << "block-sparse 32 32\ngrid 5 5\n20000\n12000\n01200\n10020\n11112\n";
  }
  auto grid = std::make_shared<BlockSparseGrid>(sparse::load_block_sparse(path, "--layout-file"));
  std::remove(path.c_str());
  for (int threads : {1, 2}) {
    AttentionCase c;
    c.name = "file_layout threads=" + std::to_string(threads);
    c.n = c.m = 151;  // 5 blocks of 32, the last ragged
    c.heads = 4;
    c.kv_heads = 2;
    c.mask = MaskKind::causal;
    c.options.threads = threads;
    c.customize_spec = [grid](AttentionSpec& s) { s.block_sparse = grid.get(); };
    check_attention_case(c);
  }
}

TEST(BlockSparseLayout, BadGridsAndOptionsAreRejected) {
  RandomLayoutOptions o;
  o.block = 12;  // not a multiple of 8
  try {
    sparse::random_block_sparse(100, 100, o);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "block");
  }
  o.block = 16;
  o.density = 1.5;
  try {
    sparse::random_block_sparse(100, 100, o);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "density");
  }
  o.density = 0.5;
  // A grid built for 100 positions does not cover 200 keys.
  const BlockSparseGrid small = sparse::random_block_sparse(100, 100, o);
  AttentionSpec spec;
  spec.block_sparse = &small;
  EXPECT_THROW(resolve_mask(spec, 100, 200), ArgumentError);
  EXPECT_NO_THROW(resolve_mask(spec, 100, 100));
  // N > M with bottom-right alignment puts queries at negative positions: outside the grid.
  try {
    resolve_mask(spec, 101, 100);
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "block_sparse");
  }
  BlockSparseGrid broken = small;
  broken.kinds.pop_back();
  spec.block_sparse = &broken;
  EXPECT_THROW(resolve_mask(spec, 100, 100), ArgumentError);
  broken = small;
  broken.kinds[0] = BlockKind(7);
  EXPECT_THROW(resolve_mask(spec, 100, 100), ArgumentError);
}

}  // namespace
}  // namespace longctx::test
