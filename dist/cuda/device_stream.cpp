// The device communicators' stream (see device_stream.hpp) and the choice of this process's GPU.
#include "device_stream.hpp"

#include "cuda/cuda_check.hpp"
#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"
#include "longctx/dist/mpi_communicator.hpp"

namespace longctx::dist {
namespace {

cudaEvent_t new_event() {
  cudaEvent_t e;
  LONGCTX_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

// Waiting on it puts the legacy stream behind an event recorded on the comm stream.
class EventRequest : public RequestImpl {
 public:
  explicit EventRequest(cudaEvent_t e) : event_(e) {}
  ~EventRequest() override { (void)cudaEventDestroy(event_); }
  void wait() override { LONGCTX_CUDA_CHECK(cudaStreamWaitEvent(cudaStreamLegacy, event_, 0)); }

 private:
  cudaEvent_t event_;
};

}  // namespace

CommStream::CommStream() {
  // Non-blocking: no implicit synchronisation with the legacy stream, or transfers could not
  // overlap the kernels. Highest priority: NCCL's few blocks get the next free SM ahead of the
  // attention kernel's waves, so the next KV block starts moving at once.
  int least = 0, greatest = 0;
  LONGCTX_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  LONGCTX_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
  compute_done_ = new_event();
}

CommStream::~CommStream() {
  if (stream_) {
    (void)cudaStreamSynchronize(stream_);
    (void)cudaStreamDestroy(stream_);
  }
  if (compute_done_) (void)cudaEventDestroy(compute_done_);
}

void CommStream::follow_compute() const {
  LONGCTX_CUDA_CHECK(cudaEventRecord(compute_done_, cudaStreamLegacy));
  LONGCTX_CUDA_CHECK(cudaStreamWaitEvent(stream_, compute_done_, 0));
}

void CommStream::lead_compute() const {
  completion().wait();
}

Request CommStream::completion() const {
  cudaEvent_t e = new_event();
  const cudaError_t err = cudaEventRecord(e, stream_);
  if (err != cudaSuccess) {
    (void)cudaEventDestroy(e);
    LONGCTX_CUDA_CHECK(err);
  }
  return Request(std::make_unique<EventRequest>(e));
}

DeviceCommunicator::DeviceCommunicator(std::unique_ptr<Communicator> host)
    : host_(std::move(host)) {
  LONGCTX_CHECK_ARG(host_ && !host_->device_buffers(), "host",
                    "a host communicator (MPI or in-process) to wrap", "none or a device one");
}

Request DeviceCommunicator::isend(const void* data, int64_t bytes, int dest, int tag) {
  const Transfer t{Transfer::Kind::send, const_cast<void*>(data), bytes, dest, tag};
  return exchange(std::span<const Transfer>(&t, 1));
}
Request DeviceCommunicator::irecv(void* data, int64_t bytes, int source, int tag) {
  const Transfer t{Transfer::Kind::recv, data, bytes, source, tag};
  return exchange(std::span<const Transfer>(&t, 1));
}
void DeviceCommunicator::allreduce(double* data, int64_t count, ReduceOp op) {
  host_->allreduce(data, count, op);
}
void DeviceCommunicator::allreduce(int64_t* data, int64_t count, ReduceOp op) {
  host_->allreduce(data, count, op);
}
void DeviceCommunicator::broadcast(void* data, int64_t bytes, int root) {
  host_->broadcast(data, bytes, root);
}
void DeviceCommunicator::barrier() {
  host_->barrier();
}

bool cuda_dist_available() {
  return true;
}

int local_gpu_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

int select_local_gpu() {
  const int count = local_gpu_count();
  LONGCTX_CHECK_ARG(count > 0, "--device", "cuda with a CUDA device present", "no CUDA device");
  const int gpu = launched_local_rank() % count;
  LONGCTX_CUDA_CHECK(cudaSetDevice(gpu));
  return gpu;
}

}  // namespace longctx::dist
