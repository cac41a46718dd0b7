// Internal: what the parallel schedules need from the CUDA side beyond the per-block work —
// local checks of a GPU call's inputs (run inside agree_on, so that a bad tensor on one rank
// makes every rank throw instead of leaving the others waiting), and synchronisation and memory
// figures for the statistics. dist/cuda/device_checks.cpp; without LONGCTX_CUDA
// (no_cuda/cuda_unavailable.cpp) the checks throw ArgumentError saying so.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "longctx/core/tensor.hpp"
#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

// comm.device_buffers(): ArgumentError naming "comm" otherwise.
void check_device_communicator(const Communicator& comm);
// Every named tensor: device memory, contiguous, bf16 or f16 and of the first one's dtype, last
// dimension 64 or 128; lse: float32 device memory, contiguous.
void check_device_tensors(std::initializer_list<std::pair<const char*, const TensorView*>> tensors,
                          const TensorView& lse);
// Waits for the work queued on the legacy default stream.
void synchronize_device();
// High-water mark of the current device's stream-ordered pool (the schedules' buffers and the
// CUDA backend's workspace), in bytes.
int64_t device_memory_peak();

}  // namespace longctx::dist
