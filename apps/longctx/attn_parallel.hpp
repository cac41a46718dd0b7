// `longctx attn --parallel ring|zigzag|striped|ulysses|allgather|usp:UxR` under mpirun: the
// sequence-parallel schedules of dist/ on the problem the foundation's flags describe. Rank 0
// prints per-rank compute / communication / wait time, bytes sent, counted FLOPs and peak
// memory, and with --check the errors against the float64 oracle on sampled rows. With --device
// cuda the schedules run the CUDA kernels, each rank on its GPU (attn_parallel_device.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "attn_case.hpp"

namespace longctx::app {

struct ParallelFlags {
  std::string parallel;  // schedule name; empty when only launched under mpirun
  bool backward = false;
  bool check = false;
  bool json = false;
  bool seed_given = false;
  int repeat = 3;
  int warmup = 1;
  int64_t check_rows = 64;
  std::string comm = "auto";  // --comm with --device cuda: auto | nccl | mpi
};

// True when `longctx attn` must take the parallel path: --parallel given, or started by
// mpirun with more than one rank (MPI is initialised only then).
bool wants_parallel_attn(const ParallelFlags& flags);

// Runs the distributed problem; returns the process exit code (0, 1 when --check fails, 2 on
// bad arguments — the same on every rank).
int run_attn_parallel(const AttnConfig& config, const ParallelFlags& flags);

}  // namespace longctx::app
