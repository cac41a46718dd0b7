// The MPI entry points of a build without LONGCTX_MPI: they say so instead of failing to link.
#include <cstdlib>

#include "longctx/core/error.hpp"
#include "longctx/dist/mpi_communicator.hpp"

namespace longctx::dist {

bool mpi_available() {
  return false;
}

MpiSession::MpiSession() {
  throw RuntimeError(
      "this longctx was built without MPI (configure with -DLONGCTX_MPI=ON and "
      "install libopenmpi-dev openmpi-bin)");
}
MpiSession::~MpiSession() = default;
std::unique_ptr<Communicator> MpiSession::world() const {
  return nullptr;
}
void MpiSession::abort(int code) const {
  std::exit(code);
}

}  // namespace longctx::dist
