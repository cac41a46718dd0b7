# The CUDA backend (attn/cuda): option LONGCTX_CUDA, on by default when nvcc is found (PATH,
# CUDACXX, or /usr/local/cuda/bin). Kernels are built for Hopper only, sm_90a (TMA + wgmma kernels,
# mma.sync fallbacks), with one instantiation file per (dtype, head dim) so builds run in parallel.
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
endif()
# Architectures are given as explicit -gencode flags below (CMake 3.25 predates the "90a" form).
set(CMAKE_CUDA_ARCHITECTURES OFF CACHE STRING "set by longctx: -gencode flags below")
check_language(CUDA)
set(longctx_cuda_default OFF)
if(CMAKE_CUDA_COMPILER)
  set(longctx_cuda_default ON)
endif()
option(LONGCTX_CUDA "Build the CUDA backend for Hopper GPUs (sm_90a)" ${longctx_cuda_default})

if(LONGCTX_CUDA)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # CMake 3.25 does not know that nvcc 13 supports C++20; tell it the flag.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(LONGCTX_CUDA_FLAGS -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr
      -Xptxas=-warn-spills -lineinfo)
  message(STATUS "longctx: CUDA ${CMAKE_CUDA_COMPILER_VERSION} (sm_90a)  ✓")
else()
  message(STATUS "longctx: CUDA  ✗ (no nvcc; the CUDA backend is not built)")
endif()
