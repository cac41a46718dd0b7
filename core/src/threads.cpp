// Thread-count resolution on top of OpenMP.
#include "longctx/core/threads.hpp"

#include <omp.h>

#include <thread>

namespace longctx {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  int n = omp_get_max_threads();
  return n > 0 ? n : 1;
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

}  // namespace longctx
