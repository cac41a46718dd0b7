// The device communicator over a host one with staging (device_communicator.hpp): payloads go
// device -> pinned host (on the comm stream, after the compute queued so far) -> the host
// communicator -> pinned host -> device. Any number of processes may share one GPU, which is how
// the GPU schedules are tested for P > 1 on a single-GPU machine. Pinned buffers are pooled.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "device_stream.hpp"
#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"

namespace longctx::dist {
namespace {

// Page-locked host buffers, reused: cudaHostAlloc is slow, and the schedules exchange buffers of
// the same few sizes every step.
class PinnedPool {
 public:
  PinnedPool() = default;
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool() {
    for (const Slot& s : slots_) (void)cudaFreeHost(s.data);
  }
  char* take(int64_t bytes) {
    Slot* best = nullptr;
    for (Slot& s : slots_)
      if (!s.used && s.capacity >= bytes && (!best || s.capacity < best->capacity)) best = &s;
    if (!best) {
      void* p = nullptr;
      LONGCTX_CUDA_CHECK(cudaHostAlloc(&p, size_t(std::max<int64_t>(bytes, 1)), 0));
      slots_.push_back(Slot{static_cast<char*>(p), bytes, false});
      best = &slots_.back();
    }
    best->used = true;
    return best->data;
  }
  void give(char* p) {
    for (Slot& s : slots_)
      if (s.data == p) s.used = false;
  }

 private:
  struct Slot {
    char* data;
    int64_t capacity;
    bool used;
  };
  std::vector<Slot> slots_;
};

// A pinned buffer for one operation, back to the pool when destroyed.
class Pinned {
 public:
  Pinned(PinnedPool& pool, int64_t bytes) : pool_(&pool), data_(pool.take(bytes)) {}
  Pinned(Pinned&& o) noexcept : pool_(o.pool_), data_(o.data_) { o.data_ = nullptr; }
  Pinned(const Pinned&) = delete;
  Pinned& operator=(const Pinned&) = delete;
  Pinned& operator=(Pinned&&) = delete;
  ~Pinned() {
    if (data_) pool_->give(data_);
  }
  char* data() const { return data_; }

 private:
  PinnedPool* pool_;
  char* data_;
};

int64_t extent(std::span<const int64_t> bytes, std::span<const int64_t> offsets) {
  int64_t end = 0;
  for (size_t i = 0; i < bytes.size(); ++i) end = std::max(end, offsets[i] + bytes[i]);
  return end;
}

// Device -> pinned for the sends, after the compute queued so far; returns once copied.
void stage_out(const CommStream& stream, const void* device, const Pinned& host, int64_t bytes) {
  if (bytes > 0)
    LONGCTX_CUDA_CHECK(
        cudaMemcpyAsync(host.data(), device, size_t(bytes), cudaMemcpyDeviceToHost, stream.get()));
}
void stage_in(const CommStream& stream, void* device, const Pinned& host, int64_t bytes) {
  if (bytes > 0)
    LONGCTX_CUDA_CHECK(
        cudaMemcpyAsync(device, host.data(), size_t(bytes), cudaMemcpyHostToDevice, stream.get()));
}

struct StagedRecv {
  void* device;
  Pinned host;
  int64_t bytes;
};

// Completes the host transfers, then copies what arrived to the device and puts the legacy
// stream behind those copies.
class StagedRequest : public RequestImpl {
 public:
  StagedRequest(const CommStream& stream, Request host, std::vector<Pinned> sends,
                std::vector<StagedRecv> recvs)
      : stream_(stream),
        host_(std::move(host)),
        sends_(std::move(sends)),
        recvs_(std::move(recvs)) {}
  void wait() override {
    host_.wait();
    for (const StagedRecv& r : recvs_) stage_in(stream_, r.device, r.host, r.bytes);
    stream_.lead_compute();
    LONGCTX_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));  // before the pinned buffers go back
    recvs_.clear();
    sends_.clear();
  }

 private:
  const CommStream& stream_;
  Request host_;
  std::vector<Pinned> sends_;
  std::vector<StagedRecv> recvs_;
};

class StagedCommunicator : public DeviceCommunicator {
 public:
  using DeviceCommunicator::DeviceCommunicator;
  const char* backend_name() const override { return "mpi-staged"; }

  Request exchange(std::span<const Transfer> ops) override {
    stream_.follow_compute();
    std::vector<Pinned> sends;
    std::vector<StagedRecv> recvs;
    std::vector<Transfer> host_ops(ops.begin(), ops.end());
    for (Transfer& t : host_ops) {
      if (t.kind == Transfer::Kind::send) {
        sends.emplace_back(pool_, t.bytes);
        stage_out(stream_, t.data, sends.back(), t.bytes);
        t.data = sends.back().data();
      } else {
        recvs.push_back(StagedRecv{t.data, Pinned(pool_, t.bytes), t.bytes});
        t.data = recvs.back().host.data();
      }
    }
    LONGCTX_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    const int64_t before = host_->bytes_sent();
    Request host = host_->exchange(host_ops);
    bytes_sent_ += host_->bytes_sent() - before;
    return Request(std::make_unique<StagedRequest>(stream_, std::move(host), std::move(sends),
                                                   std::move(recvs)));
  }

  void alltoallv(const void* send, std::span<const int64_t> send_bytes,
                 std::span<const int64_t> send_offsets, void* recv,
                 std::span<const int64_t> recv_bytes,
                 std::span<const int64_t> recv_offsets) override {
    const int64_t out = extent(send_bytes, send_offsets), in = extent(recv_bytes, recv_offsets);
    const Pinned s = stage_send(send, out), r(pool_, in);
    counted([&] {
      host_->alltoallv(s.data(), send_bytes, send_offsets, r.data(), recv_bytes, recv_offsets);
    });
    finish_recv(recv, r, in);
  }
  void allgatherv(const void* send, int64_t bytes, void* recv, std::span<const int64_t> recv_bytes,
                  std::span<const int64_t> recv_offsets) override {
    const int64_t in = extent(recv_bytes, recv_offsets);
    const Pinned s = stage_send(send, bytes), r(pool_, in);
    counted([&] { host_->allgatherv(s.data(), bytes, r.data(), recv_bytes, recv_offsets); });
    finish_recv(recv, r, in);
  }
  void reduce_scatter_sum(const float* send, float* recv,
                          std::span<const int64_t> counts) override {
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    const int64_t in = counts[size_t(rank())] * 4;
    const Pinned s = stage_send(send, total * 4), r(pool_, in);
    counted([&] {
      host_->reduce_scatter_sum(reinterpret_cast<const float*>(s.data()),
                                reinterpret_cast<float*>(r.data()), counts);
    });
    finish_recv(recv, r, in);
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<StagedCommunicator>(host_->split(color, key));
  }

 private:
  Pinned stage_send(const void* device, int64_t bytes) {
    stream_.follow_compute();
    Pinned p(pool_, bytes);
    stage_out(stream_, device, p, bytes);
    LONGCTX_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    return p;
  }
  void finish_recv(void* device, const Pinned& host, int64_t bytes) {
    stage_in(stream_, device, host, bytes);
    stream_.lead_compute();
    LONGCTX_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }
  template <typename F>
  void counted(F&& call) {
    const int64_t before = host_->bytes_sent();
    call();
    bytes_sent_ += host_->bytes_sent() - before;
  }

  PinnedPool pool_;
};

}  // namespace

std::unique_ptr<Communicator> make_staged_communicator(std::unique_ptr<Communicator> host) {
  return std::make_unique<StagedCommunicator>(std::move(host));
}

}  // namespace longctx::dist
