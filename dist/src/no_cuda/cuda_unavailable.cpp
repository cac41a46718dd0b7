// The GPU entry points of dist/ in a build without LONGCTX_CUDA: they say so (ArgumentError naming
// the backend) instead of failing to link.
#include "block_attention.hpp"
#include "device_checks.hpp"
#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"
#include "view_memory.hpp"

namespace longctx::dist {
namespace {

[[noreturn]] void no_cuda() {
  throw ArgumentError("backend",
                      "cpu (this longctx was built without CUDA: configure with nvcc "
                      "and -DLONGCTX_CUDA=ON for the GPU schedules)",
                      "cuda");
}

}  // namespace

bool cuda_dist_available() {
  return false;
}
bool nccl_available() {
  return false;
}
int select_local_gpu() {
  no_cuda();
}
int local_gpu_count() {
  return 0;
}
std::unique_ptr<Communicator> make_staged_communicator(std::unique_ptr<Communicator>) {
  no_cuda();
}
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>) {
  no_cuda();
}

const ViewMemory& device_view_memory() {
  no_cuda();
}
void check_device_communicator(const Communicator&) {
  no_cuda();
}
void check_device_tensors(std::initializer_list<std::pair<const char*, const TensorView*>>,
                          const TensorView&) {
  no_cuda();
}
void synchronize_device() {}
int64_t device_memory_peak() {
  return 0;
}

BlockCost cuda_accumulate_forward(const BlockInputs&, const TensorView&, const TensorView&,
                                  ScratchTensor&, ScratchTensor&) {
  no_cuda();
}
BlockCost cuda_accumulate_backward(const BlockInputs&, const QueryResults&,
                                   const GradientAccumulators&, BackwardScratch&) {
  no_cuda();
}

}  // namespace longctx::dist
