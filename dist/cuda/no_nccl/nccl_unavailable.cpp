// The NCCL entry points of a CUDA build without LONGCTX_NCCL (no nccl.h / libnccl, or MPI off):
// they say so instead of failing to link; the staged MPI communicator still works.
#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"

namespace longctx::dist {

bool nccl_available() {
  return false;
}

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>) {
  throw ArgumentError("--comm",
                      "mpi (this longctx was built without NCCL: install NCCL and configure with "
                      "-DLONGCTX_NCCL=ON)",
                      "nccl");
}

}  // namespace longctx::dist
