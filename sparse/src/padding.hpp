// Internal: rounding of sizes up to the tile and panel multiples of the sparse kernels.
#pragma once

#include <cstdint>

namespace longctx::sparse {

inline int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

}  // namespace longctx::sparse
