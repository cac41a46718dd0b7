// Hopper (sm_90a) building blocks of the warp-specialised forward and backward kernels:
//   - mbarriers (init, arrive, arrive with an expected transaction count, parity wait) that hand
//     shared-memory stages between the producer warp and the consumer warpgroups;
//   - TMA tile loads (cp.async.bulk.tensor) that complete on an mbarrier;
//   - the proxy fence and named barriers that hand ordinary shared-memory stores to wgmma;
//   - wgmma fences and commit / wait groups, and shared-memory matrix descriptors for tiles laid
//     out as 128-byte-swizzled panels: [rows][64] 16-bit elements per panel, 16-byte chunk c of
//     row r stored at chunk c ^ (r % 8), each 8-row group (1024 bytes) aligned to 1024 bytes —
//     exactly what a TMA load with CU_TENSOR_MAP_SWIZZLE_128B writes;
//   - setmaxnreg, which moves registers from the producer warpgroup to the consumers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tma_params.hpp"

namespace longctx::cuda::dev {

// --- mbarrier ---------------------------------------------------------------------------------

__device__ __forceinline__ void mbarrier_init(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals));
}
// Makes the initialisation visible to the async proxy (TMA) before any use.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// One arrival that also announces `bytes` of TMA transactions the phase must see complete.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
// Waits until the phase with parity `parity` has completed. A fresh barrier is in phase 0, so
// waiting on parity 1 returns at once (the producer's first pass over empty stages).
__device__ __forceinline__ void mbarrier_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// --- TMA --------------------------------------------------------------------------------------

// Loads the box at coordinates (c0 innermost .. c3) of a 4-d tensor map into shared memory at
// `dst`; completes `bytes` transactions on `bar`. Rows outside the tensor arrive as zeros.
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const void* tensor_map, uint32_t bar,
                                            int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, "
      "%3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}

// Loads one tile (all kPanels panels of D, kPanelBytes apart) of (batch b, head h) from row
// `row0`; the box size is the tensor map's.
template <int kPanels, uint32_t kPanelBytes>
__device__ __forceinline__ void tma_load_tile(const TmaTensor& t, uint32_t dst, uint32_t bar,
                                              int64_t row0, int h, int b) {
#pragma unroll
  for (int panel = 0; panel < kPanels; ++panel) {
    int c[4];
    t.coords(panel, row0, h, b, c);
    tma_load_4d(dst + panel * kPanelBytes, &t.map, bar, c[0], c[1], c[2], c[3]);
  }
}

// Makes this thread's ordinary shared-memory stores visible to the async proxy (wgmma operand
// reads, TMA) once the threads have synchronised.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Barrier `id` (1..15; 0 is __syncthreads) over `threads` threads, a multiple of 32.
__device__ __forceinline__ void named_barrier_sync(uint32_t id, uint32_t threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// --- wgmma ------------------------------------------------------------------------------------

// Orders this thread's register writes (accumulators, A fragments) before the next wgmma.
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most kPending committed groups of this warpgroup are still running.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Keeps registers an in-flight wgmma reads or writes live and unchanged up to this point.
template <int kCount>
__device__ __forceinline__ void fence_registers(uint32_t (&r)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+r"(r[i])::"memory");
}
template <int kCount>
__device__ __forceinline__ void fence_registers(float (&r)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// Bytes of one panel row (64 16-bit elements) and of one swizzle atom (8 rows).
constexpr uint32_t kPanelRowBytes = 128;
constexpr uint32_t kSwizzleAtomBytes = 1024;

// Descriptor of a K-major operand (rows = M or N, the 16 K-elements of one step contiguous within
// a 128-byte row) starting at shared address `addr`: 8-row groups 1024 bytes apart (stride byte
// offset); the leading byte offset is unused with swizzling. Stepping K by 16 elements inside a
// panel adds 32 bytes to the start address.
__device__ __forceinline__ uint64_t kmajor_descriptor(uint32_t addr) {
  uint64_t desc = 0;
  desc |= uint64_t((addr & 0x3FFFF) >> 4);
  desc |= uint64_t(1) << 16;                       // leading byte offset (unused)
  desc |= uint64_t(kSwizzleAtomBytes >> 4) << 32;  // stride byte offset
  desc |= uint64_t(1) << 62;                       // 128-byte swizzle
  return desc;
}
// Descriptor of an N-major B operand stored [K rows][64-element panels of N]: 8-row groups along
// K are 1024 bytes apart (stride byte offset), panels along N `panel_bytes` apart (leading byte
// offset). Stepping K by 16 rows adds 2048 bytes to the start address.
__device__ __forceinline__ uint64_t nmajor_descriptor(uint32_t addr, uint32_t panel_bytes) {
  uint64_t desc = 0;
  desc |= uint64_t((addr & 0x3FFFF) >> 4);
  desc |= uint64_t(panel_bytes >> 4) << 16;
  desc |= uint64_t(kSwizzleAtomBytes >> 4) << 32;
  desc |= uint64_t(1) << 62;
  return desc;
}

// --- registers --------------------------------------------------------------------------------

template <int kRegisters>
__device__ __forceinline__ void setmaxnreg_increase() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void setmaxnreg_decrease() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

}  // namespace longctx::cuda::dev
