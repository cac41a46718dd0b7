// Internal: what the device communicators (NCCL, staged MPI) share. CommStream: the stream and
// events they move data with (see device_communicator.hpp for the ordering it gives) — their own
// non-blocking stream, put behind the legacy default stream when a transfer is posted, and the
// legacy stream put behind the transfer when it is waited on. DeviceCommunicator: ranks, control
// traffic and the host side of splits from the wrapped host communicator, and single transfers
// as exchanges of one.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "longctx/dist/communicator.hpp"

namespace longctx::dist {

class CommStream {
 public:
  CommStream();
  ~CommStream();
  CommStream(const CommStream&) = delete;
  CommStream& operator=(const CommStream&) = delete;

  cudaStream_t get() const { return stream_; }
  // The work queued on the legacy stream so far comes before what is queued here next.
  void follow_compute() const;
  // What is queued here so far comes before the legacy stream's next work (host not blocked).
  void lead_compute() const;
  // A request whose wait() does lead_compute() for the work queued here so far.
  Request completion() const;

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t compute_done_ = nullptr;
};

class DeviceCommunicator : public Communicator {
 public:
  explicit DeviceCommunicator(std::unique_ptr<Communicator> host);
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  bool device_buffers() const override { return true; }
  Communicator& control() override { return *host_; }

  Request isend(const void* data, int64_t bytes, int dest, int tag) override;
  Request irecv(void* data, int64_t bytes, int source, int tag) override;

  // Control traffic: host buffers, through the host communicator.
  void allreduce(double* data, int64_t count, ReduceOp op) override;
  void allreduce(int64_t* data, int64_t count, ReduceOp op) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void barrier() override;

 protected:
  std::unique_ptr<Communicator> host_;
  CommStream stream_;
};

}  // namespace longctx::dist
