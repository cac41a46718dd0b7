// Real-process check of the schedules under mpirun: one launch runs a matrix of schedules ×
// masks × GQA ratios × dtypes (forward and backward) over MPI_COMM_WORLD and compares every
// rank's rows with single-process attention (each rank builds the full inputs from one seed
// broadcast by rank 0). Rank 0 prints one line per case; the exit code is 0 only when every
// case passed on every rank. `--mismatch` instead checks that arguments that differ between
// ranks make every rank fail with a clear error instead of hanging.
// `--device cuda` runs the GPU schedules (bf16, D = 64) against the single-GPU CUDA backend over
// `--comm mpi` (host staging: every rank may share one GPU) or `--comm nccl` (a GPU per rank);
// with `--errors`, bad GPU inputs must fail with the same clear error on every rank. Exit code
// 77 (ctest: skipped) when there is no GPU, or no NCCL in this build for --comm nccl.
//
//   mpirun --oversubscribe -n 3 mpi_dist_check [--mismatch]
//   mpirun --oversubscribe -n 3 mpi_dist_check --device cuda --comm mpi [--errors]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "device_call.hpp"
#include "dist_case.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/dist/device_communicator.hpp"
#include "longctx/dist/mpi_communicator.hpp"

namespace longctx::dist::test {
namespace {

#ifdef LONGCTX_TEST_SMALL
constexpr int64_t kBase = 10;
#else
constexpr int64_t kBase = 18;
#endif

std::vector<DistCase> matrix(int p) {
  std::vector<DistCase> cases;
  std::vector<std::string> schedules = {"ring", "zigzag", "striped", "allgather", "ulysses"};
  if (p == 4) schedules.push_back("usp:2x2");
  if (p >= 2) schedules.push_back("usp:" + std::to_string(p) + "x1");
  struct Mask {
    MaskKind kind;
    std::optional<Window> window;
  };
  const Mask masks[] = {{MaskKind::full, std::nullopt},
                        {MaskKind::causal, std::nullopt},
                        {MaskKind::causal, Window{13, 0}}};
  for (const std::string& s : schedules) {
    const bool ulysses = s == "ulysses" || s.rfind("usp:", 0) == 0;
    const int u = s == "ulysses" ? p : (s == "usp:2x2" ? 2 : (s.rfind("usp:", 0) == 0 ? p : 1));
    const int64_t heads = u == 3 ? 6 : 4;
    for (const Mask& m : masks) {
      for (int64_t g : {heads, heads / 2, int64_t(1)}) {
        if (ulysses && g % u != 0 && u % g != 0) continue;
        DistCase c;
        c.parallel = s;
        c.ranks = p;
        c.n = s == "zigzag" ? 2 * p * kBase : 4 * kBase + 3;  // odd per-rank lengths elsewhere
        c.heads = heads;
        c.kv_heads = g;
        c.mask = m.kind;
        c.window = m.window;
        cases.push_back(c);
      }
    }
  }
  DistCase bf16;  // one storage-dtype case per schedule family
  bf16.parallel = p % 2 == 0 ? "zigzag" : "striped";
  bf16.ranks = p;
  bf16.batch = 2;
  bf16.n = 2 * p * kBase;
  bf16.dim = 64;
  bf16.dtype = DType::bf16;
  cases.push_back(bf16);
  return cases;
}

// The GPU matrix: every schedule × full / causal / causal window × MHA / GQA / MQA, bf16, D = 64
// (the CUDA backend's storage and head dims), odd per-rank lengths where the layout allows.
std::vector<DistCase> cuda_matrix(int p) {
  std::vector<DistCase> cases = matrix(p);
  std::erase_if(cases, [](const DistCase& c) { return c.dtype != DType::f32; });
  for (DistCase& c : cases) {
    c.dtype = DType::bf16;
    c.dim = c.dim_v = 64;
    c.backend = Backend::cuda;
  }
  return cases;
}

int run_matrix(Communicator& comm, Backend backend) {
  const int p = comm.size(), me = comm.rank();
  int64_t seed = int64_t(fresh_seed() & 0x7fffffff);
  comm.broadcast(&seed, sizeof(seed), 0);
  if (me == 0)
    std::printf("mpi_dist_check: %d ranks, seed %lld\n", p, static_cast<long long>(seed));
  int failures = 0;
  int index = 0;
  for (const DistCase& c : backend == Backend::cuda ? cuda_matrix(p) : matrix(p)) {
    const DistReference ref(c, uint64_t(seed) + uint64_t(index++));
    RankErrors e = run_and_compare(comm, c, ref);
    double worst[2] = {std::max({e.out, e.dq, e.dk, e.dv}), e.lse};
    comm.allreduce(worst, 2, ReduceOp::max);
    const bool ok = worst[0] <= dist_tolerance(c.dtype) && worst[1] <= lse_tolerance(backend);
    failures += ok ? 0 : 1;
    if (me == 0)
      std::printf("  %-4s %-60s max err %.2e  lse %.2e\n", ok ? "ok" : "FAIL", c.describe().c_str(),
                  worst[0], worst[1]);
  }
  if (me == 0) std::printf("mpi_dist_check: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}

struct Scenario {
  const char* what;
  const char* argument;
  std::function<void()> body;
};
int expect_errors(Communicator& comm, const std::vector<Scenario>& scenarios, const char* title);

// Each scenario must make every rank throw ArgumentError naming `argument`.
int run_mismatch(Communicator& comm) {
  const int me = comm.rank();
  const std::vector<Scenario> scenarios = {
      {"rank 1 has another N", "seq",
       [&] { ParallelAttention pa(comm, parse_parallel("ring", comm.size()), me == 1 ? 70 : 72); }},
      {"rank 2 has another head count", "heads",
       [&] {
         ParallelAttention pa(comm, parse_parallel("ring", comm.size()), 72);
         const int64_t n = pa.layout().rows(me), h = me == 2 ? 2 : 4;
         Tensor q(DType::f32, {1, n, h, 32}), k(DType::f32, {1, n, 1, 32}),
             v(DType::f32, {1, n, 1, 32});
         Tensor o(DType::f32, {1, n, h, 32}), l(DType::f32, {1, h, n});
         q.zero(), k.zero(), v.zero();
         pa.forward(q, k, v, AttentionSpec{}, o, l);
       }},
      {"zigzag with N % 2P != 0", "seq",
       [&] {
         ParallelAttention pa(comm, parse_parallel("zigzag", comm.size()), 2 * comm.size() * 5 + 1);
       }},
  };
  return expect_errors(comm, scenarios, "mpi_dist_check --mismatch");
}

// Bad GPU inputs, on one rank or on all: every rank throws the same ArgumentError.
int run_cuda_errors(Communicator& host, Communicator& device) {
  const int me = device.rank(), p = device.size();
  const int64_t n_all = 24 * p;
  // Runs one forward of the ring with [1, n, 4, D] inputs of `dtype` on this rank's rows, on
  // the device unless `on_host`.
  const auto forward = [&](Communicator& comm, int64_t d, DType dtype, bool on_host) {
    ParallelOptions o;
    o.backend = Backend::cuda;
    ParallelAttention pa(comm, parse_parallel("ring", p), n_all, o);
    const int64_t n = pa.layout().rows(me);
    Tensor q(dtype, {1, n, 4, d}), k(dtype, {1, n, 2, d}), v(dtype, {1, n, 2, d});
    Tensor out(dtype, {1, n, 4, d}), lse(DType::f32, {1, 4, n});
    q.zero(), k.zero(), v.zero();
    run_on(on_host ? Backend::cpu : Backend::cuda, {q, k, v}, {out, lse},
           [&](const ViewList& in, const ViewList& o) {
             pa.forward(in[0], in[1], in[2], AttentionSpec{}, o[0], o[1]);
           });
  };
  const std::vector<Scenario> scenarios = {
      {"host tensors with Backend::cuda", "q", [&] { forward(device, 64, DType::bf16, true); }},
      {"rank 1 passes host tensors", "q", [&] { forward(device, 64, DType::bf16, me == 1 % p); }},
      {"head dim 32", "q", [&] { forward(device, 32, DType::bf16, false); }},
      {"float32 tensors", "q", [&] { forward(device, 64, DType::f32, false); }},
      {"a host communicator with Backend::cuda", "comm",
       [&] { forward(host, 64, DType::bf16, false); }},
  };
  return expect_errors(device, scenarios, "mpi_dist_check --device cuda --errors");
}

int expect_errors(Communicator& comm, const std::vector<Scenario>& scenarios, const char* title) {
  const int me = comm.rank();
  int failures = 0;
  for (const Scenario& s : scenarios) {
    std::string got = "no error";
    try {
      s.body();
    } catch (const ArgumentError& e) {
      got = e.argument() == s.argument ? "" : std::string("wrong argument: ") + e.what();
      if (me == 0) std::printf("  %s -> %s\n", s.what, e.what());
    }
    int64_t bad = got.empty() ? 0 : 1;
    if (bad) std::fprintf(stderr, "rank %d: %s: %s\n", me, s.what, got.c_str());
    comm.allreduce(&bad, 1, ReduceOp::sum);
    failures += bad ? 1 : 0;
  }
  if (me == 0) std::printf("%s: %d failure(s)\n", title, failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace longctx::dist::test

int main(int argc, char** argv) {
  using namespace longctx::dist;
  constexpr int kSkipped = 77;  // ctest's SKIP_RETURN_CODE
  bool mismatch = false, errors = false, cuda = false;
  std::string comm_kind = "mpi";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mismatch") mismatch = true;
    if (a == "--errors") errors = true;
    if (a == "--device" && i + 1 < argc) cuda = std::string(argv[++i]) == "cuda";
    if (a == "--comm" && i + 1 < argc) comm_kind = argv[++i];
  }
  MpiSession session;
  int rc = 1;
  try {
    std::unique_ptr<Communicator> world = session.world();
    if (!cuda)
      return mismatch ? test::run_mismatch(*world)
                      : test::run_matrix(*world, longctx::Backend::cpu);
    const bool skip = !test::gpu_present() || (comm_kind == "nccl" && !nccl_available());
    if (skip) {
      if (world->rank() == 0)
        std::printf("mpi_dist_check: skipped (%s)\n",
                    test::gpu_present() ? "no NCCL in this build" : "no CUDA device");
      return kSkipped;
    }
    select_local_gpu();
    std::unique_ptr<Communicator> device = comm_kind == "nccl"
                                               ? make_nccl_communicator(session.world())
                                               : make_staged_communicator(session.world());
    if (device->rank() == 0)
      std::printf("mpi_dist_check: GPU schedules over %s\n", device->backend_name());
    rc = errors ? test::run_cuda_errors(*world, *device)
                : test::run_matrix(*device, longctx::Backend::cuda);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_dist_check: unexpected error: %s\n", e.what());
    session.abort(1);  // the peers may be waiting in a collective
  }
  return rc;
}
