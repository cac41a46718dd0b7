// The in-process communicator (see in_process.hpp): a World shared by the rank threads holds
// per-(source, dest, tag) message queues and one exchange slot per rank for the collectives.
// Every collective is "publish a pointer, read the peers' data, barrier", so a rank's buffers
// stay valid while the others read them.
#include "longctx/dist/in_process.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "longctx/core/error.hpp"

namespace longctx::dist {
namespace {

// Raised in the ranks that did not fail themselves, so that run_in_process can report the
// original error rather than its echoes.
class AbortedError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

struct AbortFlag {
  std::atomic<bool> aborted{false};
};

class World {
 public:
  World(int size, std::shared_ptr<AbortFlag> abort, double timeout_s)
      : size_(size),
        abort_(std::move(abort)),
        timeout_s_(timeout_s),
        slots_(static_cast<size_t>(size)) {}

  int size() const { return size_; }
  const std::shared_ptr<AbortFlag>& abort_flag() const { return abort_; }
  double timeout_s() const { return timeout_s_; }

  // Blocks until pred() holds; throws when another rank failed or the wait timed out.
  template <typename Pred>
  void wait_until(std::unique_lock<std::mutex>& lock, Pred pred, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    while (!pred()) {
      if (abort_->aborted.load())
        throw AbortedError(std::string(what) + ": aborted, another rank failed");
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_s_) {
        abort_->aborted.store(true);
        throw RuntimeError(std::string(what) + ": no matching peer after " +
                           std::to_string(timeout_s_) + " s (unmatched communication)");
      }
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  // Collective: every rank publishes `mine`; returns all ranks' pointers. The caller must end
  // the collective with another exchange (a barrier) before changing what it published.
  std::vector<const void*> exchange(int rank, const void* mine, const char* what) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t gen = generation_;
    slots_[size_t(rank)] = mine;
    if (++arrived_ == size_) {
      snapshot_ = slots_;
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      wait_until(
          lock, [&] { return generation_ != gen; }, what);
    }
    return snapshot_;
  }

  void send(int src, int dst, int tag, const void* data, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    Channel& ch = channels_[{src, dst, tag}];
    const char* p = static_cast<const char*>(data);
    ch.messages[ch.send_seq++] = std::vector<char>(p, p + bytes);
    cv_.notify_all();
  }
  int64_t post_recv(int src, int dst, int tag) {
    std::lock_guard<std::mutex> lock(mu_);
    return channels_[{src, dst, tag}].recv_seq++;
  }
  void complete_recv(int src, int dst, int tag, int64_t seq, void* data, int64_t bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    Channel& ch = channels_[{src, dst, tag}];
    wait_until(
        lock, [&] { return ch.messages.count(seq) > 0; }, "in-process recv");
    std::vector<char>& msg = ch.messages[seq];
    if (int64_t(msg.size()) != bytes) {
      abort_->aborted.store(true);
      throw RuntimeError("in-process recv from rank " + std::to_string(src) + " (tag " +
                         std::to_string(tag) + "): expected " + std::to_string(bytes) +
                         " bytes, the matching send has " + std::to_string(msg.size()));
    }
    if (bytes > 0) std::memcpy(data, msg.data(), size_t(bytes));
    ch.messages.erase(seq);
  }

 private:
  struct Channel {
    int64_t send_seq = 0, recv_seq = 0;
    std::map<int64_t, std::vector<char>> messages;
  };
  const int size_;
  std::shared_ptr<AbortFlag> abort_;
  const double timeout_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::tuple<int, int, int>, Channel> channels_;
  std::vector<const void*> slots_, snapshot_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

class RecvRequest : public RequestImpl {
 public:
  RecvRequest(std::shared_ptr<World> world, int src, int dst, int tag, int64_t seq, void* data,
              int64_t bytes)
      : world_(std::move(world)),
        src_(src),
        dst_(dst),
        tag_(tag),
        seq_(seq),
        data_(data),
        bytes_(bytes) {}
  void wait() override { world_->complete_recv(src_, dst_, tag_, seq_, data_, bytes_); }

 private:
  std::shared_ptr<World> world_;
  int src_, dst_, tag_;
  int64_t seq_;
  void* data_;
  int64_t bytes_;
};

class InProcessCommunicator : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<World> world, int rank)
      : world_(std::move(world)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  const char* backend_name() const override { return "in-process"; }

  Request isend(const void* data, int64_t bytes, int dest, int tag) override {
    check_peer(dest, "dest");
    world_->send(rank_, dest, tag, data, bytes);
    if (dest != rank_) bytes_sent_ += bytes;
    return Request();
  }
  Request irecv(void* data, int64_t bytes, int source, int tag) override {
    check_peer(source, "source");
    const int64_t seq = world_->post_recv(source, rank_, tag);
    return Request(std::make_unique<RecvRequest>(world_, source, rank_, tag, seq, data, bytes));
  }

  void alltoallv(const void* send, std::span<const int64_t> send_bytes,
                 std::span<const int64_t> send_offsets, void* recv,
                 std::span<const int64_t> recv_bytes,
                 std::span<const int64_t> recv_offsets) override {
    check_spans({send_bytes.size(), send_offsets.size(), recv_bytes.size(), recv_offsets.size()});
    struct Mine {
      const void* send;
      std::span<const int64_t> bytes, offsets;
    } mine{send, send_bytes, send_offsets};
    auto all = world_->exchange(rank_, &mine, "in-process alltoallv");
    for (int j = 0; j < size(); ++j) {
      const Mine& peer = *static_cast<const Mine*>(all[size_t(j)]);
      check_count(peer.bytes[size_t(rank_)], recv_bytes[size_t(j)], j, "alltoallv");
      copy(static_cast<char*>(recv) + recv_offsets[size_t(j)],
           static_cast<const char*>(peer.send) + peer.offsets[size_t(rank_)],
           recv_bytes[size_t(j)]);
      if (j != rank_) bytes_sent_ += send_bytes[size_t(j)];
    }
    barrier();
  }

  void allgatherv(const void* send, int64_t bytes, void* recv, std::span<const int64_t> recv_bytes,
                  std::span<const int64_t> recv_offsets) override {
    check_spans({recv_bytes.size(), recv_offsets.size()});
    struct Mine {
      const void* send;
      int64_t bytes;
    } mine{send, bytes};
    auto all = world_->exchange(rank_, &mine, "in-process allgatherv");
    for (int j = 0; j < size(); ++j) {
      const Mine& peer = *static_cast<const Mine*>(all[size_t(j)]);
      check_count(peer.bytes, recv_bytes[size_t(j)], j, "allgatherv");
      copy(static_cast<char*>(recv) + recv_offsets[size_t(j)], peer.send, peer.bytes);
    }
    bytes_sent_ += bytes * (size() - 1);
    barrier();
  }

  void reduce_scatter_sum(const float* send, float* recv,
                          std::span<const int64_t> counts) override {
    check_spans({counts.size()});
    auto all = world_->exchange(rank_, send, "in-process reduce_scatter");
    int64_t offset = 0;
    for (int j = 0; j < rank_; ++j) offset += counts[size_t(j)];
    const int64_t n = counts[size_t(rank_)];
    std::fill(recv, recv + n, 0.f);
    for (int j = 0; j < size(); ++j) {  // fixed order: deterministic sums
      const float* part = static_cast<const float*>(all[size_t(j)]) + offset;
      for (int64_t i = 0; i < n; ++i) recv[i] += part[i];
    }
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    bytes_sent_ += (total - n) * int64_t(sizeof(float));
    barrier();
  }

  void allreduce(double* data, int64_t count, ReduceOp op) override {
    allreduce_impl(data, count, op);
  }
  void allreduce(int64_t* data, int64_t count, ReduceOp op) override {
    allreduce_impl(data, count, op);
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_peer(root, "root");
    auto all = world_->exchange(rank_, data, "in-process broadcast");
    if (rank_ != root) copy(data, all[size_t(root)], bytes);
    barrier();
  }

  void barrier() override { world_->exchange(rank_, nullptr, "in-process barrier"); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    const int64_t mine[3] = {color, key, rank_};
    auto all = world_->exchange(rank_, mine, "in-process split");
    std::vector<std::tuple<int64_t, int64_t>> members;  // (key, rank) of my color
    for (int j = 0; j < size(); ++j) {
      const int64_t* peer = static_cast<const int64_t*>(all[size_t(j)]);
      if (peer[0] == color) members.emplace_back(peer[1], peer[2]);
    }
    std::sort(members.begin(), members.end());
    const int leader = int(std::get<1>(members.front()));
    int new_rank = 0;
    while (std::get<1>(members[size_t(new_rank)]) != rank_) ++new_rank;
    barrier();
    // The leader creates the group's world; members pick it up from the leader's slot.
    std::shared_ptr<World> created;
    if (leader == rank_)
      created =
          std::make_shared<World>(int(members.size()), world_->abort_flag(), world_->timeout_s());
    auto worlds = world_->exchange(rank_, &created, "in-process split");
    std::shared_ptr<World> group =
        *static_cast<const std::shared_ptr<World>*>(worlds[size_t(leader)]);
    barrier();
    return std::make_unique<InProcessCommunicator>(std::move(group), new_rank);
  }

 private:
  template <typename T>
  void allreduce_impl(T* data, int64_t count, ReduceOp op) {
    auto all = world_->exchange(rank_, data, "in-process allreduce");
    std::vector<T> result(static_cast<const T*>(all[0]), static_cast<const T*>(all[0]) + count);
    for (int j = 1; j < size(); ++j) {
      const T* peer = static_cast<const T*>(all[size_t(j)]);
      for (int64_t i = 0; i < count; ++i) {
        T& r = result[size_t(i)];
        r = op == ReduceOp::sum
                ? r + peer[i]
                : (op == ReduceOp::max ? std::max(r, peer[i]) : std::min(r, peer[i]));
      }
    }
    barrier();  // every rank has read `data` before anyone overwrites it
    std::copy(result.begin(), result.end(), data);
  }

  void check_peer(int peer, const char* name) const {
    LONGCTX_CHECK_ARG(peer >= 0 && peer < size(), name, "a rank in [0, " << size() << ")", peer);
  }
  void check_spans(std::initializer_list<size_t> sizes) const {
    for (size_t s : sizes)
      LONGCTX_CHECK_ARG(s == size_t(size()), "counts", "one entry per rank (" << size() << ")", s);
  }
  void check_count(int64_t sent, int64_t expected, int peer, const char* what) const {
    if (sent == expected) return;
    world_->abort_flag()->aborted.store(true);
    throw RuntimeError(std::string("in-process ") + what + ": rank " + std::to_string(rank_) +
                       " expects " + std::to_string(expected) + " bytes from rank " +
                       std::to_string(peer) + ", which sends " + std::to_string(sent));
  }
  static void copy(void* dst, const void* src, int64_t bytes) {
    if (bytes > 0) std::memcpy(dst, src, size_t(bytes));
  }

  std::shared_ptr<World> world_;
  int rank_;
};

}  // namespace

Request& Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    try {
      wait();
    } catch (...) {
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}

Request::~Request() {
  try {
    wait();
  } catch (...) {  // a destructor must not throw; the failure was or will be reported elsewhere
  }
}

void Request::wait() {
  if (!impl_) return;
  std::unique_ptr<RequestImpl> impl = std::move(impl_);
  impl->wait();
}

namespace {

// The requests of a default exchange, completed in posting order.
class RequestGroup : public RequestImpl {
 public:
  explicit RequestGroup(std::vector<Request> requests) : requests_(std::move(requests)) {}
  void wait() override {
    for (Request& r : requests_) r.wait();
  }

 private:
  std::vector<Request> requests_;
};

}  // namespace

Request Communicator::exchange(std::span<const Transfer> ops) {
  std::vector<Request> requests;
  requests.reserve(ops.size());
  for (const Transfer& t : ops)
    requests.push_back(t.kind == Transfer::Kind::send ? isend(t.data, t.bytes, t.peer, t.tag)
                                                      : irecv(t.data, t.bytes, t.peer, t.tag));
  return Request(std::make_unique<RequestGroup>(std::move(requests)));
}

void run_in_process(int ranks, const std::function<void(Communicator&)>& body,
                    const InProcessOptions& options) {
  LONGCTX_CHECK_ARG(ranks >= 1, "ranks", ">= 1", ranks);
  auto abort = std::make_shared<AbortFlag>();
  auto world = std::make_shared<World>(ranks, abort, options.timeout_s);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        InProcessCommunicator comm(world, r);
        body(comm);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
        abort->aborted.store(true);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Prefer the error that started it all over the AbortedError echoes it caused.
  std::exception_ptr first_abort;
  for (const std::exception_ptr& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const AbortedError&) {
      if (!first_abort) first_abort = e;
    } catch (...) {
      std::rethrow_exception(e);
    }
  }
  if (first_abort) std::rethrow_exception(first_abort);
}

}  // namespace longctx::dist
