// Threading: the library uses OpenMP; these helpers pick and report the thread count.
#pragma once

namespace longctx {

// Number of threads to use: `requested` if > 0, else the OpenMP default (OMP_NUM_THREADS or cores).
int resolve_threads(int requested);
int hardware_threads();

}  // namespace longctx
