// Inline-PTX wrappers of the Hopper warpgroup MMA (wgmma.mma_async, sm_90a) used by the attention
// kernels: one instruction multiplies a 64×16 A by a 16×N B into a 64×N fp32 accumulator held by
// the 128 threads of a warpgroup (N/2 floats each, the same per-warp layout as mma.sync's C
// fragment). Two forms:
//   ss: A and B both in shared memory (descriptors), K-major unless named _tt (A M-major and
//       B N-major, the backward's dQ = dS·K) — scores S = Q·Kᵀ, Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ;
//   rs: A in registers (the mma.sync A-fragment layout per warp), B in shared memory N-major
//       (transposed) — O += P·V, dV += Pᵀ·dO, dK += dSᵀ·Q with V, dO, Q stored [rows][d].
// Inline asm needs one operand per accumulator register: the lists are spelled out once as macros,
// and one macro defines the wrappers for each input type.
#pragma once

#include <cstdint>

// "%0, ..., %N-1" and the N accumulator operands d[i] with constraint C.
#define LONGCTX_WGMMA_PCT32                                                                    \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define LONGCTX_WGMMA_PCT64                                                                    \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, " \
  "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, " \
  "%56, %57, %58, %59, %60, %61, %62, %63"
#define LONGCTX_WGMMA_ACC32(C)                                                                  \
  C(d[0]), C(d[1]), C(d[2]), C(d[3]), C(d[4]), C(d[5]), C(d[6]), C(d[7]), C(d[8]), C(d[9]),     \
      C(d[10]), C(d[11]), C(d[12]), C(d[13]), C(d[14]), C(d[15]), C(d[16]), C(d[17]), C(d[18]), \
      C(d[19]), C(d[20]), C(d[21]), C(d[22]), C(d[23]), C(d[24]), C(d[25]), C(d[26]), C(d[27]), \
      C(d[28]), C(d[29]), C(d[30]), C(d[31])
#define LONGCTX_WGMMA_ACC64(C)                                                                  \
  C(d[0]), C(d[1]), C(d[2]), C(d[3]), C(d[4]), C(d[5]), C(d[6]), C(d[7]), C(d[8]), C(d[9]),     \
      C(d[10]), C(d[11]), C(d[12]), C(d[13]), C(d[14]), C(d[15]), C(d[16]), C(d[17]), C(d[18]), \
      C(d[19]), C(d[20]), C(d[21]), C(d[22]), C(d[23]), C(d[24]), C(d[25]), C(d[26]), C(d[27]), \
      C(d[28]), C(d[29]), C(d[30]), C(d[31]), C(d[32]), C(d[33]), C(d[34]), C(d[35]), C(d[36]), \
      C(d[37]), C(d[38]), C(d[39]), C(d[40]), C(d[41]), C(d[42]), C(d[43]), C(d[44]), C(d[45]), \
      C(d[46]), C(d[47]), C(d[48]), C(d[49]), C(d[50]), C(d[51]), C(d[52]), C(d[53]), C(d[54]), \
      C(d[55]), C(d[56]), C(d[57]), C(d[58]), C(d[59]), C(d[60]), C(d[61]), C(d[62]), C(d[63])

// The wrappers for input type TY ("bf16" or "f16") as struct Name.
#define LONGCTX_WGMMA_WRAPPERS(Name, TY)                                                            \
  struct Name {                                                                                     \
    /* d[64] (+)= A(desc) · B(desc)ᵀ, m64n128k16; scale_d = 0 overwrites d. */                   \
    static __device__ __forceinline__ void ss_n128(float (&d)[64], uint64_t desc_a,                 \
                                                   uint64_t desc_b, uint32_t scale_d) {             \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                              \
          "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT64         \
          "}, "                                                                                     \
          "%64, %65, p, 1, 1, 0, 0;\n}\n"                                                           \
          : LONGCTX_WGMMA_ACC64("+f")                                                               \
          : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                                \
    }                                                                                               \
    /* d[64] = A(desc) · B(desc)ᵀ, m64n128k16 (d is only written). */                            \
    static __device__ __forceinline__ void ss_n128_zero(float (&d)[64], uint64_t desc_a,            \
                                                        uint64_t desc_b) {                          \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, 0, 0;\n"                                                \
          "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT64         \
          "}, "                                                                                     \
          "%64, %65, p, 1, 1, 0, 0;\n}\n"                                                           \
          : LONGCTX_WGMMA_ACC64("=f")                                                               \
          : "l"(desc_a), "l"(desc_b));                                                              \
    }                                                                                               \
    /* d[32] (+)= A(desc) · B(desc), m64n64k16, A and B K-major; scale_d = 0 overwrites d. */      \
    static __device__ __forceinline__ void ss_n64(float (&d)[32], uint64_t desc_a,                  \
                                                  uint64_t desc_b, uint32_t scale_d) {              \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                              \
          "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT32          \
          "}, "                                                                                     \
          "%32, %33, p, 1, 1, 0, 0;\n}\n"                                                           \
          : LONGCTX_WGMMA_ACC32("+f")                                                               \
          : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                                \
    }                                                                                               \
    /* d[32] (+)= A(desc) · B(desc), m64n64k16, A M-major, B N-major; scale_d = 0 overwrites d. */ \
    static __device__ __forceinline__ void ss_n64_tt(float (&d)[32], uint64_t desc_a,               \
                                                     uint64_t desc_b, uint32_t scale_d) {           \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                              \
          "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT32          \
          "}, "                                                                                     \
          "%32, %33, p, 1, 1, 1, 1;\n}\n"                                                           \
          : LONGCTX_WGMMA_ACC32("+f")                                                               \
          : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                                \
    }                                                                                               \
    /* d[32] += A(registers) · B(desc, N-major), m64n64k16. */                                     \
    static __device__ __forceinline__ void rs_n64(float (&d)[32], const uint32_t (&r)[4],           \
                                                  uint64_t desc_b) {                                \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                \
          "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT32          \
          "}, "                                                                                     \
          "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                             \
          : LONGCTX_WGMMA_ACC32("+f")                                                               \
          : "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]), "l"(desc_b));                               \
    }                                                                                               \
    /* d[64] += A(registers) · B(desc, N-major), m64n128k16. */                                    \
    static __device__ __forceinline__ void rs_n128(float (&d)[64], const uint32_t (&r)[4],          \
                                                   uint64_t desc_b) {                               \
      asm volatile(                                                                                 \
          "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                                \
          "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" LONGCTX_WGMMA_PCT64         \
          "}, "                                                                                     \
          "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                             \
          : LONGCTX_WGMMA_ACC64("+f")                                                               \
          : "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]), "l"(desc_b));                               \
    }                                                                                               \
  };

namespace longctx::cuda::dev {

LONGCTX_WGMMA_WRAPPERS(WgmmaBf16, "bf16")
LONGCTX_WGMMA_WRAPPERS(WgmmaF16, "f16")

}  // namespace longctx::cuda::dev

#undef LONGCTX_WGMMA_WRAPPERS
#undef LONGCTX_WGMMA_ACC64
#undef LONGCTX_WGMMA_ACC32
#undef LONGCTX_WGMMA_PCT64
#undef LONGCTX_WGMMA_PCT32
