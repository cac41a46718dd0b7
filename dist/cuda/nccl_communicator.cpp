// The NCCL communicator (device_communicator.hpp): payload transfers and collectives through NCCL
// on the communicator's own stream, device buffers; control traffic (allreduce, broadcast,
// barrier on host buffers) and splits through the host communicator that also carried the NCCL
// unique id. NCCL matches point-to-point transfers by order per peer: tags are not sent (every
// schedule posts its transfers in the same order on every rank). Every NCCL and CUDA return
// code is checked; a failure raises RuntimeError with NCCL's error string and its last message.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "device_stream.hpp"
#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"

namespace longctx::dist {
namespace {

[[noreturn]] void nccl_fail(const char* call, ncclResult_t code, ncclComm_t comm, const char* file,
                            int line) {
  const char* last = comm ? ncclGetLastError(comm) : ncclGetLastError(nullptr);
  throw RuntimeError(std::string(call) + " failed (" + file + ":" + std::to_string(line) +
                     "): " + ncclGetErrorString(code) +
                     (last && *last ? std::string(": ") + last : std::string()));
}

#define LONGCTX_NCCL_CHECK(call, comm)                                \
  do {                                                                \
    const ncclResult_t longctx_nccl_rc_ = (call);                     \
    if (longctx_nccl_rc_ != ncclSuccess)                              \
      nccl_fail(#call, longctx_nccl_rc_, (comm), __FILE__, __LINE__); \
  } while (0)

// No NVLink multicast (NVLS): on the shared GPU hosts it can put the GPUs out of service. The
// user's own setting wins.
void keep_nvls_off() {
  if (!std::getenv("NCCL_NVLS_ENABLE")) setenv("NCCL_NVLS_ENABLE", "0", 0);
}

class NcclCommunicator : public DeviceCommunicator {
 public:
  explicit NcclCommunicator(std::unique_ptr<Communicator> control)
      : DeviceCommunicator(std::move(control)) {
    keep_nvls_off();
    ncclUniqueId id{};
    if (host_->rank() == 0) LONGCTX_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
    host_->broadcast(&id, sizeof(id), 0);
    LONGCTX_NCCL_CHECK(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), nullptr);
  }
  ~NcclCommunicator() override {
    if (!comm_) return;
    (void)cudaStreamSynchronize(stream_.get());
    (void)ncclCommDestroy(comm_);
  }

  const char* backend_name() const override { return "nccl"; }

  Request exchange(std::span<const Transfer> ops) override {
    stream_.follow_compute();
    group([&] {
      for (const Transfer& t : ops) {
        if (t.bytes == 0) continue;
        if (t.kind == Transfer::Kind::send) {
          LONGCTX_NCCL_CHECK(
              ncclSend(t.data, size_t(t.bytes), ncclUint8, t.peer, comm_, stream_.get()), comm_);
          if (t.peer != rank()) bytes_sent_ += t.bytes;
        } else {
          LONGCTX_NCCL_CHECK(
              ncclRecv(t.data, size_t(t.bytes), ncclUint8, t.peer, comm_, stream_.get()), comm_);
        }
      }
    });
    return stream_.completion();
  }

  void alltoallv(const void* send, std::span<const int64_t> send_bytes,
                 std::span<const int64_t> send_offsets, void* recv,
                 std::span<const int64_t> recv_bytes,
                 std::span<const int64_t> recv_offsets) override {
    std::vector<Transfer> ops;
    for (int j = 0; j < size(); ++j) {
      const size_t u = size_t(j);
      ops.push_back(Transfer{Transfer::Kind::send,
                             const_cast<char*>(static_cast<const char*>(send)) + send_offsets[u],
                             send_bytes[u], j, 0});
      ops.push_back(Transfer{Transfer::Kind::recv, static_cast<char*>(recv) + recv_offsets[u],
                             recv_bytes[u], j, 0});
    }
    exchange(ops).wait();
  }
  void allgatherv(const void* send, int64_t bytes, void* recv, std::span<const int64_t> recv_bytes,
                  std::span<const int64_t> recv_offsets) override {
    std::vector<Transfer> ops;
    for (int j = 0; j < size(); ++j) {
      ops.push_back(Transfer{Transfer::Kind::send, const_cast<void*>(send), bytes, j, 0});
      ops.push_back(Transfer{Transfer::Kind::recv,
                             static_cast<char*>(recv) + recv_offsets[size_t(j)],
                             recv_bytes[size_t(j)], j, 0});
    }
    exchange(ops).wait();
  }
  void reduce_scatter_sum(const float* send, float* recv,
                          std::span<const int64_t> counts) override {
    // Uneven parts: one reduce per root in one group.
    stream_.follow_compute();
    int64_t offset = 0;
    group([&] {
      for (int j = 0; j < size(); ++j) {
        const int64_t c = counts[size_t(j)];
        if (c > 0)
          LONGCTX_NCCL_CHECK(ncclReduce(send + offset, recv, size_t(c), ncclFloat, ncclSum, j,
                                        comm_, stream_.get()),
                             comm_);
        if (j != rank()) bytes_sent_ += c * int64_t(sizeof(float));
        offset += c;
      }
    });
    stream_.lead_compute();
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<NcclCommunicator>(host_->split(color, key));
  }

 private:
  template <typename F>
  void group(F&& body) {
    LONGCTX_NCCL_CHECK(ncclGroupStart(), comm_);
    try {
      body();
    } catch (...) {
      (void)ncclGroupEnd();
      throw;
    }
    LONGCTX_NCCL_CHECK(ncclGroupEnd(), comm_);
  }

  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_available() {
  return true;
}

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> control) {
  return std::make_unique<NcclCommunicator>(std::move(control));
}

}  // namespace longctx::dist
