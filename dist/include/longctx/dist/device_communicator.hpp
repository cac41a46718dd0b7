// Communicators whose payload buffers are CUDA device memory (Communicator::device_buffers()), for
// the sequence-parallel schedules on GPUs (ParallelOptions::backend = Backend::cuda):
//   NCCL            one GPU per process; the NCCL unique id is broadcast over the host
//                   communicator, which also carries the control traffic (allreduce, broadcast,
//                   barrier: host buffers) and the splits. Point-to-point transfers of one
//                   exchange run as one ncclGroupStart/End group, so a ring cannot deadlock.
//   MPI, staged     device -> pinned host -> MPI -> device: any number of processes may share
//                   one GPU (tests of P = 2, 3 on a single-GPU machine).
// Ordering (both): payload transfers run on the communicator's own stream after all the work the
// process had put on the legacy default stream — where the CUDA backend computes — when the
// transfer was posted; Request::wait() and the collectives' return put the legacy stream behind
// the transfer. So a schedule posts the next KV block's transfer, launches the current block's
// kernels and only then waits: the transfer moves while the kernels run.
// NCCL_NVLS_ENABLE=0 (no NVLink multicast) is set before the first ncclCommInitRank unless the
// user set it. Every CUDA / NCCL / MPI return code is checked (RuntimeError naming the call).
#pragma once

#include <memory>
#include <string>

#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

// True when this build has the CUDA schedules (LONGCTX_CUDA) / the NCCL communicator
// (LONGCTX_NCCL).
bool cuda_dist_available();
bool nccl_available();

// Makes this process use GPU (local rank mod visible GPUs), the local rank read from the mpirun
// environment (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID; 0 when absent), and
// returns its index. local_gpu_count(): the visible GPUs (0 without CUDA or a device).
int select_local_gpu();
int local_gpu_count();

// host: an MPI (or in-process) communicator; its ranks become the new communicator's.
std::unique_ptr<Communicator> make_staged_communicator(std::unique_ptr<Communicator> host);
// Collective over control. Call select_local_gpu() first: the NCCL communicator binds to the
// current device.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> control);

}  // namespace longctx::dist
