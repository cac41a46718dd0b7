// Building block-sparse layouts (longctx/attn/block_sparse.hpp): a random layout with a seeded
// density, and a layout read from (or written to) a text file. Attach the result to a spec with
// AttentionSpec::block_sparse; the CPU kernels and the float64 oracle then see the same mask.
//
// Text format (one layout per file; '#' starts a comment, blank lines are ignored):
//   block-sparse BQ BK         positions per query block and per key block (>= 1)
//   grid QB KB                 number of query blocks and key blocks (>= 1)
//   QB rows of KB digits       one row per query block: 0 empty, 1 full, 2 partial (the spec's
//                              other mask parts decide inside); spaces between digits optional
// Example (4 blocks of 128 positions, causal band with one far block):
//   block-sparse 128 128
//   grid 4 4
//   2000
//   1200
//   0120
//   1012
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "longctx/attn/block_sparse.hpp"

namespace longctx::sparse {

struct RandomLayoutOptions {
  int64_t block = 128;   // positions per block, both axes; a positive multiple of 8
  double density = 0.1;  // probability that an off-diagonal block is kept, in [0, 1]
  uint64_t seed = 0;
  bool causal = false;  // blocks above the diagonal empty, diagonal blocks partial
};

// A random layout over query positions [0, q_extent) and key positions [0, k_extent): every
// block whose query and key ranges overlap on the position axis (the "diagonal") is kept, so
// every query sees at least its own position's block; every other block (below the diagonal
// only, when causal) is full with probability `density`. Diagonal blocks are full, or partial
// when causal (the causal predicate then cuts them).
BlockSparseGrid random_block_sparse(int64_t q_extent, int64_t k_extent,
                                    const RandomLayoutOptions& options);

// Reads a layout in the text format above. `argument` names the input in errors (e.g. the CLI
// flag); errors give the line number. Throws ArgumentError.
BlockSparseGrid read_block_sparse(std::istream& in, const std::string& argument);
BlockSparseGrid load_block_sparse(const std::string& path, const std::string& argument = "path");
void write_block_sparse(const BlockSparseGrid& grid, std::ostream& out);

// Fraction of the grid's blocks that are not empty.
double block_density(const BlockSparseGrid& grid);

}  // namespace longctx::sparse
