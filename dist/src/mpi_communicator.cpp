// The MPI backend of the communicator (see mpi_communicator.hpp). Byte counts are int in MPI;
// a transfer above INT_MAX bytes is refused with a clear error rather than truncated.
#include "longctx/dist/mpi_communicator.hpp"

#include <mpi.h>

#include <climits>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"

namespace longctx::dist {
namespace {

[[noreturn]] void mpi_fail(const char* call, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  throw RuntimeError(std::string(call) + " failed (" + file + ":" + std::to_string(line) + "): " +
                     (len > 0 ? std::string(text, size_t(len)) : "error " + std::to_string(code)));
}

// Every MPI call goes through this check (STYLE item 9).
#define LONGCTX_MPI_CHECK(call)                                                               \
  do {                                                                                        \
    const int longctx_mpi_rc_ = (call);                                                       \
    if (longctx_mpi_rc_ != MPI_SUCCESS) mpi_fail(#call, longctx_mpi_rc_, __FILE__, __LINE__); \
  } while (0)

int to_int(int64_t bytes, const char* what) {
  if (bytes < 0 || bytes > INT_MAX)
    throw RuntimeError(std::string(what) + ": " + std::to_string(bytes) +
                       " bytes do not fit MPI's int count (at most " + std::to_string(INT_MAX) +
                       "); use more ranks or a smaller batch");
  return int(bytes);
}

std::vector<int> to_ints(std::span<const int64_t> xs, const char* what) {
  std::vector<int> out;
  out.reserve(xs.size());
  for (int64_t x : xs) out.push_back(to_int(x, what));
  return out;
}

class MpiRequest : public RequestImpl {
 public:
  explicit MpiRequest(MPI_Request r) : request_(r) {}
  ~MpiRequest() override {
    // Only reached when wait() threw or was never called: free the handle, do not block.
    if (request_ != MPI_REQUEST_NULL) MPI_Request_free(&request_);
  }
  void wait() override { LONGCTX_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE)); }

 private:
  MPI_Request request_;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    LONGCTX_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    LONGCTX_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    LONGCTX_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "mpi"; }

  Request isend(const void* data, int64_t bytes, int dest, int tag) override {
    MPI_Request r;
    LONGCTX_MPI_CHECK(MPI_Isend(data, to_int(bytes, "MPI_Isend"), MPI_BYTE, dest, tag, comm_, &r));
    if (dest != rank_) bytes_sent_ += bytes;
    return Request(std::make_unique<MpiRequest>(r));
  }
  Request irecv(void* data, int64_t bytes, int source, int tag) override {
    MPI_Request r;
    LONGCTX_MPI_CHECK(
        MPI_Irecv(data, to_int(bytes, "MPI_Irecv"), MPI_BYTE, source, tag, comm_, &r));
    return Request(std::make_unique<MpiRequest>(r));
  }

  void alltoallv(const void* send, std::span<const int64_t> send_bytes,
                 std::span<const int64_t> send_offsets, void* recv,
                 std::span<const int64_t> recv_bytes,
                 std::span<const int64_t> recv_offsets) override {
    const std::vector<int> sc = to_ints(send_bytes, "MPI_Alltoallv"),
                           sd = to_ints(send_offsets, "MPI_Alltoallv"),
                           rc = to_ints(recv_bytes, "MPI_Alltoallv"),
                           rd = to_ints(recv_offsets, "MPI_Alltoallv");
    LONGCTX_MPI_CHECK(MPI_Alltoallv(send, sc.data(), sd.data(), MPI_BYTE, recv, rc.data(),
                                    rd.data(), MPI_BYTE, comm_));
    for (int j = 0; j < size_; ++j)
      if (j != rank_) bytes_sent_ += send_bytes[size_t(j)];
  }

  void allgatherv(const void* send, int64_t bytes, void* recv, std::span<const int64_t> recv_bytes,
                  std::span<const int64_t> recv_offsets) override {
    const std::vector<int> rc = to_ints(recv_bytes, "MPI_Allgatherv"),
                           rd = to_ints(recv_offsets, "MPI_Allgatherv");
    LONGCTX_MPI_CHECK(MPI_Allgatherv(send, to_int(bytes, "MPI_Allgatherv"), MPI_BYTE, recv,
                                     rc.data(), rd.data(), MPI_BYTE, comm_));
    bytes_sent_ += bytes * (size_ - 1);
  }

  void reduce_scatter_sum(const float* send, float* recv,
                          std::span<const int64_t> counts) override {
    const std::vector<int> c = to_ints(counts, "MPI_Reduce_scatter");
    LONGCTX_MPI_CHECK(MPI_Reduce_scatter(send, recv, c.data(), MPI_FLOAT, MPI_SUM, comm_));
    int64_t total = 0;
    for (int64_t x : counts) total += x;
    bytes_sent_ += (total - counts[size_t(rank_)]) * int64_t(sizeof(float));
  }

  void allreduce(double* data, int64_t count, ReduceOp op) override {
    LONGCTX_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, to_int(count, "MPI_Allreduce"), MPI_DOUBLE,
                                    mpi_op(op), comm_));
  }
  void allreduce(int64_t* data, int64_t count, ReduceOp op) override {
    LONGCTX_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, to_int(count, "MPI_Allreduce"), MPI_INT64_T,
                                    mpi_op(op), comm_));
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    LONGCTX_MPI_CHECK(MPI_Bcast(data, to_int(bytes, "MPI_Bcast"), MPI_BYTE, root, comm_));
  }
  void barrier() override { LONGCTX_MPI_CHECK(MPI_Barrier(comm_)); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm sub;
    LONGCTX_MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
    return std::make_unique<MpiCommunicator>(sub);
  }

 private:
  static MPI_Op mpi_op(ReduceOp op) {
    return op == ReduceOp::sum ? MPI_SUM : (op == ReduceOp::max ? MPI_MAX : MPI_MIN);
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool mpi_available() {
  return true;
}

MpiSession::MpiSession() {
  int initialised = 0;
  LONGCTX_MPI_CHECK(MPI_Initialized(&initialised));
  if (initialised) return;
  // FUNNELED: the kernels run OpenMP threads, but only the main thread calls MPI.
  int provided = 0;
  LONGCTX_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  initialised_here_ = true;
}

MpiSession::~MpiSession() {
  if (!initialised_here_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::unique_ptr<Communicator> MpiSession::world() const {
  MPI_Comm dup;
  LONGCTX_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  return std::make_unique<MpiCommunicator>(dup);
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);  // not reached: MPI_Abort ends the process
}

}  // namespace longctx::dist
