// Random and file-based block-sparse layouts (see longctx/sparse/block_sparse.hpp).
#include "longctx/sparse/block_sparse.hpp"

#include <algorithm>
#include <fstream>
#include <istream>
#include <ostream>
#include <random>
#include <sstream>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"

namespace longctx::sparse {
namespace {

// Next line that is not blank once comments are stripped; false at the end of the input.
bool next_line(std::istream& in, std::string& line, int64_t& number) {
  while (std::getline(in, line)) {
    ++number;
    line = line.substr(0, line.find('#'));
    if (line.find_first_not_of(" \t\r") != std::string::npos) return true;
  }
  return false;
}

// "KEYWORD A B" with integers A, B >= 1.
void read_pair(std::istream& in, const std::string& argument, const char* keyword, int64_t& a,
               int64_t& b, int64_t& number) {
  std::string line, word, rest;
  const std::string expected = std::string("a line '") + keyword + " A B' with integers >= 1";
  LONGCTX_CHECK_ARG(next_line(in, line, number), argument, expected, "the end of the file");
  std::istringstream fields(line);
  const bool ok =
      (fields >> word >> a >> b) && word == keyword && !(fields >> rest) && a >= 1 && b >= 1;
  LONGCTX_CHECK_ARG(ok, argument, expected, "line " << number << ": '" << line << "'");
}

}  // namespace

BlockSparseGrid random_block_sparse(int64_t q_extent, int64_t k_extent,
                                    const RandomLayoutOptions& o) {
  LONGCTX_CHECK_ARG(o.block >= 8 && o.block % 8 == 0, "block", "a positive multiple of 8", o.block);
  LONGCTX_CHECK_ARG(o.density >= 0.0 && o.density <= 1.0, "density", "a value in [0, 1]",
                    o.density);
  LONGCTX_CHECK_ARG(q_extent >= 1 && k_extent >= 1, "extent", "query and key extents >= 1",
                    q_extent << ", " << k_extent);
  BlockSparseGrid g;
  g.block_q = g.block_k = o.block;
  g.q_blocks = (q_extent + o.block - 1) / o.block;
  g.k_blocks = (k_extent + o.block - 1) / o.block;
  g.kinds.assign(size_t(g.q_blocks * g.k_blocks), BlockKind::empty);
  Rng rng(o.seed);
  std::bernoulli_distribution keep(o.density);
  for (int64_t qb = 0; qb < g.q_blocks; ++qb)
    for (int64_t kb = 0; kb < g.k_blocks; ++kb) {
      BlockKind& kind = g.kinds[size_t(qb * g.k_blocks + kb)];
      const bool kept = keep(rng.engine());  // drawn for every block: the layout of a block
                                             // does not depend on the causal flag's choices
      if (qb == kb) {
        kind = o.causal ? BlockKind::partial : BlockKind::full;
      } else if (!(o.causal && kb > qb) && kept) {
        kind = BlockKind::full;
      }
    }
  return g;
}

BlockSparseGrid read_block_sparse(std::istream& in, const std::string& argument) {
  BlockSparseGrid g;
  int64_t number = 0;
  read_pair(in, argument, "block-sparse", g.block_q, g.block_k, number);
  read_pair(in, argument, "grid", g.q_blocks, g.k_blocks, number);
  LONGCTX_CHECK_ARG(g.q_blocks <= (int64_t(1) << 20) && g.k_blocks <= (int64_t(1) << 20) &&
                        g.q_blocks * g.k_blocks <= (int64_t(1) << 28),
                    argument, "a grid of at most 2^28 blocks", g.q_blocks << "x" << g.k_blocks);
  g.kinds.reserve(size_t(g.q_blocks * g.k_blocks));
  std::string line;
  for (int64_t qb = 0; qb < g.q_blocks; ++qb) {
    LONGCTX_CHECK_ARG(next_line(in, line, number), argument,
                      g.q_blocks << " rows of " << g.k_blocks << " digits 0/1/2",
                      "only " << qb << " rows");
    std::string digits;
    for (char c : line)
      if (c != ' ' && c != '\t' && c != '\r') digits.push_back(c);
    const bool ok =
        int64_t(digits.size()) == g.k_blocks &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '2'; });
    LONGCTX_CHECK_ARG(ok, argument, g.k_blocks << " digits 0 (empty), 1 (full) or 2 (partial)",
                      "line " << number << ": '" << line << "'");
    for (char c : digits) g.kinds.push_back(BlockKind(c - '0'));
  }
  LONGCTX_CHECK_ARG(!next_line(in, line, number), argument,
                    "exactly " << g.q_blocks << " grid rows", "more at line " << number);
  return g;
}

BlockSparseGrid load_block_sparse(const std::string& path, const std::string& argument) {
  std::ifstream in(path);
  LONGCTX_CHECK_ARG(in.good(), argument, "a readable layout file", "'" << path << "'");
  return read_block_sparse(in, argument + " (" + path + ")");
}

void write_block_sparse(const BlockSparseGrid& g, std::ostream& out) {
  out << "# longctx block-sparse layout: 0 empty, 1 full, 2 partial\n";
  out << "block-sparse " << g.block_q << " " << g.block_k << "\n";
  out << "grid " << g.q_blocks << " " << g.k_blocks << "\n";
  for (int64_t qb = 0; qb < g.q_blocks; ++qb) {
    for (int64_t kb = 0; kb < g.k_blocks; ++kb) out << char('0' + int(g.at(qb, kb)));
    out << "\n";
  }
}

double block_density(const BlockSparseGrid& g) {
  if (g.kinds.empty()) return 0.0;
  const auto kept = std::count_if(g.kinds.begin(), g.kinds.end(),
                                  [](BlockKind k) { return k != BlockKind::empty; });
  return double(kept) / double(g.kinds.size());
}

}  // namespace longctx::sparse
