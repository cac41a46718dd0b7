// Gather to / scatter from rank 0 along the row axis (see gather.hpp). Each rank's rows travel
// as one packed message; rank 0 places them with the layout's position map.
#include "longctx/dist/gather.hpp"

#include <vector>

#include "longctx/core/error.hpp"
#include "pack.hpp"
#include "scratch.hpp"

namespace longctx::dist {
namespace {

constexpr int kTagGather = 501;
constexpr int kTagScatter = 502;

// A contiguous tensor shaped like `like` but with `rows` rows along `axis`.
Tensor shaped_like(const TensorView& like, int64_t rows, int axis) {
  std::array<int64_t, kMaxRank> shape = like.shape;
  shape[size_t(axis)] = rows;
  return Tensor(like.dtype, shape, like.rank);
}

void check_comm(const Communicator& comm, const SequenceLayout& layout) {
  LONGCTX_CHECK_ARG(comm.size() == layout.ranks(), "layout",
                    "a layout over the communicator's " << comm.size() << " ranks",
                    layout.ranks() << " ranks");
}

}  // namespace

void gather_to_root(Communicator& comm, const SequenceLayout& layout, const TensorView& local,
                    const TensorView& full, int axis) {
  check_comm(comm, layout);
  const int me = comm.rank();
  const int64_t bytes = local.numel() * dtype_size(local.dtype);
  if (me != 0) {
    ScratchBytes buf(static_cast<size_t>(bytes));
    pack_view(local, buf.data());
    comm.isend(buf.data(), bytes, 0, kTagGather).wait();
    return;
  }
  gather_rows(local, layout, 0, full, axis);
  for (int r = 1; r < comm.size(); ++r) {
    Tensor part = shaped_like(local, layout.rows(r), axis);
    comm.irecv(part.view().data, part.nbytes(), r, kTagGather).wait();
    gather_rows(part, layout, r, full, axis);
  }
}

void scatter_from_root(Communicator& comm, const SequenceLayout& layout, const TensorView& full,
                       const TensorView& local, int axis) {
  check_comm(comm, layout);
  const int me = comm.rank();
  if (me == 0) {
    for (int r = 1; r < comm.size(); ++r) {
      Tensor part = shard(full, layout, r, axis);
      comm.isend(part.view().data, part.nbytes(), r, kTagScatter).wait();
    }
    shard_rows(full, layout, 0, local, axis);
    return;
  }
  const int64_t bytes = local.numel() * dtype_size(local.dtype);
  ScratchBytes buf(static_cast<size_t>(bytes));
  comm.irecv(buf.data(), bytes, 0, kTagScatter).wait();
  unpack_view(buf.data(), local);
}

}  // namespace longctx::dist
