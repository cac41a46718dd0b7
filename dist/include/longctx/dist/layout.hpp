// How a sequence of N tokens is split over ranks, and the global position of every local row
// (the position map: RoPE and masks must use these positions, DESIGN idea 1).
//
// A rank's rows are a list of runs; run i holds local rows [local_begin, local_begin + length)
// at global positions global_start + stride·j. Layouts (SPEC §4), over R ring groups:
//   contiguous  group g holds one block of ⌈N/R⌉ or ⌊N/R⌋ consecutive tokens (any N);
//   zigzag      2R chunks of N/(2R); group g holds chunks g and 2R−1−g (N % 2R == 0);
//   striped     token t lives on group t mod R (local row i is token i·R + g; any N).
// Ulysses degree U (hybrid U × R, USP): rank = group·U + inner; the group's rows, in the order
// above, are split into U consecutive slices (⌈·⌉ / ⌊·⌋) for its U members. U = 1 gives the plain
// layouts; R = 1 with U = P is Ulysses over a contiguous split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "longctx/core/tensor.hpp"

namespace longctx::dist {

enum class LayoutKind : uint8_t { contiguous, zigzag, striped };
const char* layout_kind_name(LayoutKind k);

struct Run {
  int64_t local_begin = 0;   // first local row
  int64_t length = 0;        // rows
  int64_t global_start = 0;  // global position of the first row
  int64_t stride = 1;        // global distance between consecutive rows
  int64_t position(int64_t j) const { return global_start + stride * j; }
  int64_t last_position() const { return position(length - 1); }
};

class SequenceLayout {
 public:
  // Throws ArgumentError: zigzag with N % 2R != 0, fewer tokens than ranks, R or U < 1.
  SequenceLayout(LayoutKind kind, int64_t n, int ring_size, int ulysses_size = 1);

  LayoutKind kind() const { return kind_; }
  int64_t n() const { return n_; }
  int ranks() const { return ring_size_ * ulysses_size_; }
  int ring_size() const { return ring_size_; }
  int ulysses_size() const { return ulysses_size_; }

  int64_t rows(int rank) const;                         // local rows of a rank
  const std::vector<Run>& runs(int rank) const;         // its runs, in local order
  int64_t group_rows(int group) const;                  // rows of a ring group (its U members)
  const std::vector<Run>& group_runs(int group) const;  // the group's rows as its members'
                                                        // rows concatenated in member order
  int64_t group_row_offset(int rank) const;  // where a rank's rows start within its group's

  // Global position of each local row of `rank` (the position map).
  std::vector<int64_t> positions(int rank) const;
  std::string describe() const;  // "zigzag N=1024 over 4 ranks"

 private:
  LayoutKind kind_;
  int64_t n_;
  int ring_size_, ulysses_size_;
  std::vector<std::vector<Run>> group_runs_;   // [R]
  std::vector<std::vector<Run>> rank_runs_;    // [P]
  std::vector<int64_t> rank_offset_in_group_;  // [P]
};

// The rows of runs [begin, begin + count) of a run list (local order), renumbered from 0.
std::vector<Run> slice_runs(const std::vector<Run>& runs, int64_t begin, int64_t count);

// Shard and gather along the row axis `axis` (1 for [B, N, H, D] tensors, 2 for LSE [B, H, N]):
// local holds rank `rank`'s rows of full, in local order. Any dtype (both views the same), any
// strides; values are copied bit for bit.
void shard_rows(const TensorView& full, const SequenceLayout& layout, int rank,
                const TensorView& local, int axis = 1);
void gather_rows(const TensorView& local, const SequenceLayout& layout, int rank,
                 const TensorView& full, int axis = 1);
// Owning conveniences: a new contiguous tensor with the rank's rows / with all rows.
Tensor shard(const TensorView& full, const SequenceLayout& layout, int rank, int axis = 1);

}  // namespace longctx::dist
