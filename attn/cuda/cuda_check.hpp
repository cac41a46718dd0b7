// Every CUDA runtime call is checked: a failure throws longctx::cuda::CudaError naming the call,
// the file and line, and CUDA's own message.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace longctx::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

}  // namespace longctx::cuda

#define LONGCTX_CUDA_CHECK(call)                                                       \
  do {                                                                                 \
    const cudaError_t longctx_cuda_err_ = (call);                                      \
    if (longctx_cuda_err_ != cudaSuccess)                                              \
      ::longctx::cuda::throw_cuda_error(longctx_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)
