// Sequence layouts, position maps, and shard / gather along the row axis (see layout.hpp).
#include "longctx/dist/layout.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx::dist {
namespace {

// Rows [begin, end) of `total` split into `parts` near-equal slices (the first total % parts
// slices get one more).
int64_t slice_begin(int64_t total, int parts, int i) {
  const int64_t base = total / parts, extra = total % parts;
  return i * base + std::min<int64_t>(i, extra);
}

std::vector<Run> ring_group_runs(LayoutKind kind, int64_t n, int groups, int g) {
  switch (kind) {
    case LayoutKind::contiguous: {
      const int64_t b = slice_begin(n, groups, g), e = slice_begin(n, groups, g + 1);
      return {Run{0, e - b, b, 1}};
    }
    case LayoutKind::zigzag: {
      const int64_t c = n / (2 * groups);
      return {Run{0, c, g * c, 1}, Run{c, c, (2 * groups - 1 - g) * c, 1}};
    }
    case LayoutKind::striped: {
      const int64_t count = (n - g + groups - 1) / groups;  // tokens t < n with t ≡ g (mod groups)
      return {Run{0, count, g, groups}};
    }
  }
  return {};
}

// Copies rows between a tensor and its shard: for each run, rows along `axis` of `shard`
// [local_begin, +length) <-> positions of `full`. to_full selects the direction.
void copy_rows(const TensorView& full, const SequenceLayout& layout, int rank,
               const TensorView& local, int axis, bool to_full) {
  LONGCTX_CHECK_ARG(axis >= 0 && axis < full.rank, "axis", "a dimension of full", axis);
  LONGCTX_CHECK_ARG(full.rank == local.rank, "local", "rank " << full.rank, local.rank);
  LONGCTX_CHECK_ARG(full.dtype == local.dtype, "local", dtype_name(full.dtype),
                    dtype_name(local.dtype));
  LONGCTX_CHECK_ARG(full.dim(axis) == layout.n(), "full", layout.n() << " rows along axis " << axis,
                    full.shape_string());
  LONGCTX_CHECK_ARG(local.dim(axis) == layout.rows(rank), "local",
                    layout.rows(rank) << " rows along axis " << axis << " (rank " << rank << ")",
                    local.shape_string());
  for (int d = 0; d < full.rank; ++d)
    if (d != axis)
      LONGCTX_CHECK_ARG(full.dim(d) == local.dim(d), "local",
                        "the shape of full except along axis " << axis, local.shape_string());
  // Pad to rank 4 so that one loop nest serves every rank.
  std::array<int64_t, 4> shape{1, 1, 1, 1}, fs{0, 0, 0, 0}, ls{0, 0, 0, 0};
  const int pad = 4 - full.rank;
  for (int d = 0; d < full.rank; ++d) {
    shape[size_t(d + pad)] = local.dim(d);
    fs[size_t(d + pad)] = full.stride(d);
    ls[size_t(d + pad)] = local.stride(d);
  }
  const int ax = axis + pad;
  const size_t es = size_t(dtype_size(full.dtype));
  char* f = static_cast<char*>(full.data);
  char* l = static_cast<char*>(local.data);
  std::array<int64_t, 4> ext = shape;  // every dimension but the row axis
  ext[size_t(ax)] = 1;
  for (const Run& run : layout.runs(rank)) {
    for (int64_t j = 0; j < run.length; ++j) {
      const int64_t l_row = (run.local_begin + j) * ls[size_t(ax)];
      const int64_t f_row = run.position(j) * fs[size_t(ax)];
      for (int64_t a = 0; a < ext[0]; ++a)
        for (int64_t b = 0; b < ext[1]; ++b)
          for (int64_t c = 0; c < ext[2]; ++c)
            for (int64_t e = 0; e < ext[3]; ++e) {
              const int64_t li = l_row + a * ls[0] + b * ls[1] + c * ls[2] + e * ls[3];
              const int64_t fi = f_row + a * fs[0] + b * fs[1] + c * fs[2] + e * fs[3];
              if (to_full)
                std::memcpy(f + size_t(fi) * es, l + size_t(li) * es, es);
              else
                std::memcpy(l + size_t(li) * es, f + size_t(fi) * es, es);
            }
    }
  }
}

}  // namespace

const char* layout_kind_name(LayoutKind k) {
  switch (k) {
    case LayoutKind::contiguous:
      return "contiguous";
    case LayoutKind::zigzag:
      return "zigzag";
    case LayoutKind::striped:
      return "striped";
  }
  return "?";
}

std::vector<Run> slice_runs(const std::vector<Run>& runs, int64_t begin, int64_t count) {
  std::vector<Run> out;
  const int64_t end = begin + count;
  for (const Run& r : runs) {
    const int64_t lo = std::max(begin, r.local_begin);
    const int64_t hi = std::min(end, r.local_begin + r.length);
    if (lo >= hi) continue;
    out.push_back(Run{lo - begin, hi - lo, r.position(lo - r.local_begin), r.stride});
  }
  return out;
}

SequenceLayout::SequenceLayout(LayoutKind kind, int64_t n, int ring_size, int ulysses_size)
    : kind_(kind), n_(n), ring_size_(ring_size), ulysses_size_(ulysses_size) {
  LONGCTX_CHECK_ARG(ring_size >= 1, "ring_size", ">= 1", ring_size);
  LONGCTX_CHECK_ARG(ulysses_size >= 1, "ulysses_size", ">= 1", ulysses_size);
  const int p = ranks();
  LONGCTX_CHECK_ARG(n >= p, "seq", "at least one token per rank (N >= " << p << ")", n);
  if (kind == LayoutKind::zigzag)
    LONGCTX_CHECK_ARG(n % (2 * int64_t(ring_size)) == 0, "seq",
                      "a multiple of 2·P = " << 2 * int64_t(ring_size)
                                             << " for the zigzag layout (2P equal chunks)",
                      n);
  group_runs_.resize(static_cast<size_t>(ring_size));
  rank_runs_.resize(static_cast<size_t>(p));
  rank_offset_in_group_.resize(static_cast<size_t>(p));
  for (int g = 0; g < ring_size; ++g) {
    group_runs_[size_t(g)] = ring_group_runs(kind, n, ring_size, g);
    int64_t rows = 0;
    for (const Run& r : group_runs_[size_t(g)]) rows += r.length;
    LONGCTX_CHECK_ARG(rows >= ulysses_size, "seq",
                      "at least U = " << ulysses_size << " tokens per ring group", n);
    for (int u = 0; u < ulysses_size; ++u) {
      const int rank = g * ulysses_size + u;
      const int64_t b = slice_begin(rows, ulysses_size, u),
                    e = slice_begin(rows, ulysses_size, u + 1);
      rank_runs_[size_t(rank)] = slice_runs(group_runs_[size_t(g)], b, e - b);
      rank_offset_in_group_[size_t(rank)] = b;
    }
  }
}

int64_t SequenceLayout::rows(int rank) const {
  int64_t n = 0;
  for (const Run& r : runs(rank)) n += r.length;
  return n;
}

const std::vector<Run>& SequenceLayout::runs(int rank) const {
  LONGCTX_CHECK_ARG(rank >= 0 && rank < ranks(), "rank", "in [0, " << ranks() << ")", rank);
  return rank_runs_[size_t(rank)];
}

int64_t SequenceLayout::group_rows(int group) const {
  int64_t n = 0;
  for (const Run& r : group_runs(group)) n += r.length;
  return n;
}

const std::vector<Run>& SequenceLayout::group_runs(int group) const {
  LONGCTX_CHECK_ARG(group >= 0 && group < ring_size_, "group", "in [0, " << ring_size_ << ")",
                    group);
  return group_runs_[size_t(group)];
}

int64_t SequenceLayout::group_row_offset(int rank) const {
  runs(rank);  // validates
  return rank_offset_in_group_[size_t(rank)];
}

std::vector<int64_t> SequenceLayout::positions(int rank) const {
  std::vector<int64_t> pos(static_cast<size_t>(rows(rank)));
  for (const Run& r : runs(rank))
    for (int64_t j = 0; j < r.length; ++j) pos[size_t(r.local_begin + j)] = r.position(j);
  return pos;
}

std::string SequenceLayout::describe() const {
  std::ostringstream os;
  os << layout_kind_name(kind_) << " N=" << n_ << " over " << ranks() << " ranks";
  if (ulysses_size_ > 1) os << " (Ulysses " << ulysses_size_ << " x ring " << ring_size_ << ")";
  return os.str();
}

void shard_rows(const TensorView& full, const SequenceLayout& layout, int rank,
                const TensorView& local, int axis) {
  copy_rows(full, layout, rank, local, axis, false);
}

void gather_rows(const TensorView& local, const SequenceLayout& layout, int rank,
                 const TensorView& full, int axis) {
  copy_rows(full, layout, rank, local, axis, true);
}

Tensor shard(const TensorView& full, const SequenceLayout& layout, int rank, int axis) {
  std::array<int64_t, kMaxRank> shape = full.shape;
  shape[size_t(axis)] = layout.rows(rank);
  Tensor t(full.dtype, shape, full.rank);
  shard_rows(full, layout, rank, t.view(), axis);
  return t;
}

}  // namespace longctx::dist
