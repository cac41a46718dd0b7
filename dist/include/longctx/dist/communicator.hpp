// The communicator every schedule is written against (DESIGN idea 4): paired non-blocking
// send/recv with requests, all-to-all with uneven splits, all-gather, reduce-scatter,
// all-reduce, broadcast, barrier and split into sub-groups. Backends: MPI (mpi_communicator.hpp,
// real processes under mpirun), in-process (in_process.hpp, one thread per rank, for tests) and,
// for CUDA device buffers, NCCL or MPI with host staging (device_communicator.hpp).
//
// Buffers are raw bytes (or float32 for reductions); a buffer passed to isend/irecv must stay
// valid and untouched until the request has been waited on. Collectives are blocking and must
// be called by every rank of the communicator in the same order. Failures raise RuntimeError
// naming the call and the backend's error text; nothing hangs silently (the in-process backend
// aborts every rank when one fails, the CLI calls MPI_Abort on unexpected errors).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace longctx::dist {

// One pending non-blocking operation.
class RequestImpl {
 public:
  virtual ~RequestImpl() = default;
  virtual void wait() = 0;
};

// Move-only handle of a pending operation; wait() completes it (a no-op once done or when
// empty). The destructor waits too, so a buffer is never released under a live transfer.
class Request {
 public:
  Request() = default;
  explicit Request(std::unique_ptr<RequestImpl> impl) : impl_(std::move(impl)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&& o) noexcept;
  ~Request();
  void wait();
  bool pending() const { return impl_ != nullptr; }

 private:
  std::unique_ptr<RequestImpl> impl_;
};

enum class ReduceOp : uint8_t { sum, max, min };

// One point-to-point transfer of a grouped exchange (Communicator::exchange).
struct Transfer {
  enum class Kind : uint8_t { send, recv };
  Kind kind = Kind::send;
  void* data = nullptr;  // read (send) or written (recv)
  int64_t bytes = 0;
  int peer = 0;
  int tag = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend_name() const = 0;  // "mpi" | "in-process"

  // Point to point. Messages between one (source, dest, tag) are matched in posting order;
  // the receive's byte count must equal the send's.
  virtual Request isend(const void* data, int64_t bytes, int dest, int tag) = 0;
  virtual Request irecv(void* data, int64_t bytes, int source, int tag) = 0;
  // Posts every transfer of `ops` as one group and returns one request for them all.
  // Backends whose sends wait for the matching receive (NCCL) need the group, or a ring of ranks
  // each sending right and receiving left deadlocks; the default posts isend / irecv in order
  // (never blocking), which is what MPI and the in-process backend do.
  virtual Request exchange(std::span<const Transfer> ops);
  // True when payload buffers (isend, irecv, exchange, alltoallv, allgatherv,
  // reduce_scatter_sum) are CUDA device memory; control buffers (allreduce, broadcast) are host
  // memory on every backend.
  virtual bool device_buffers() const { return false; }
  // The communicator over the same ranks for host payloads (agreement, reports): this one,
  // except that a device communicator returns the host communicator it wraps.
  virtual Communicator& control() { return *this; }

  // All-to-all with uneven splits: rank i sends send_bytes[j] bytes from send + send_offsets[j]
  // to rank j and receives recv_bytes[j] bytes from j at recv + recv_offsets[j]. Spans of size().
  virtual void alltoallv(const void* send, std::span<const int64_t> send_bytes,
                         std::span<const int64_t> send_offsets, void* recv,
                         std::span<const int64_t> recv_bytes,
                         std::span<const int64_t> recv_offsets) = 0;
  // Every rank contributes `bytes` from `send`; rank j's lands at recv + recv_offsets[j]
  // (recv_bytes[j] must equal rank j's `bytes`).
  virtual void allgatherv(const void* send, int64_t bytes, void* recv,
                          std::span<const int64_t> recv_bytes,
                          std::span<const int64_t> recv_offsets) = 0;
  // send holds sum(counts) floats, rank j's part first at offset sum(counts[0..j)); rank i
  // receives the element-wise sum over ranks of part i (counts[i] floats) into recv.
  virtual void reduce_scatter_sum(const float* send, float* recv,
                                  std::span<const int64_t> counts) = 0;
  virtual void allreduce(double* data, int64_t count, ReduceOp op) = 0;
  virtual void allreduce(int64_t* data, int64_t count, ReduceOp op) = 0;
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Collective: ranks with the same color form a new communicator, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Payload bytes this rank has sent through isend, alltoallv, allgatherv and
  // reduce_scatter_sum (counting each destination once; bytes to itself excluded). Control
  // traffic (allreduce, broadcast, barrier) is not counted.
  int64_t bytes_sent() const { return bytes_sent_; }
  void reset_bytes_sent() { bytes_sent_ = 0; }

 protected:
  int64_t bytes_sent_ = 0;
};

}  // namespace longctx::dist
