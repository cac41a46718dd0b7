// `longctx attn --parallel ...` (see attn_parallel.hpp). Every rank parses the same flags; rank 0
// broadcasts the seed and the problem's shape is agreed before any work, so a rank started with
// other arguments makes every rank exit with the same clear error instead of a hang. Inputs are
// generated per rank (no rank holds the whole sequence) except with --check, where rank 0 builds
// the full problem, scatters it, gathers the results back and compares them with the float64
// oracle on sampled rows (oracle_check.hpp).
#include "attn_parallel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "attn_case_device.hpp"
#include "attn_parallel_device.hpp"
#include "attn_report.hpp"
#include "cpu/cpu_attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/timer.hpp"
#include "longctx/dist/agreement.hpp"
#include "longctx/dist/gather.hpp"
#include "longctx/dist/mpi_communicator.hpp"
#include "longctx/dist/parallel_attention.hpp"
#include "oracle_check.hpp"
#include "report_format.hpp"

namespace longctx::app {
namespace {

using dist::Communicator;
using dist::RankStats;

// One rank's numbers as a fixed record of doubles, so that rank 0 can gather them at once.
struct RankReport {
  double rows, fwd_compute, fwd_comm, fwd_wait, fwd_total, fwd_bytes, fwd_flops, bwd_compute,
      bwd_comm, bwd_wait, bwd_total, bwd_bytes, bwd_flops, peak_rss, workspace_peak, steps_computed,
      steps_skipped, device_tensors;
};

// workspace_peak: host workspace, or on the GPU the device pool's high-water mark;
// device_tensors: the rank's inputs and outputs on the device.
RankReport make_report(int64_t rows, const RankStats& f, const RankStats& b,
                       int64_t device_tensors) {
  return {
      double(rows),
      f.compute_ms,
      f.comm_ms,
      f.wait_ms,
      f.total_ms,
      double(f.bytes_sent),
      f.flops,
      b.compute_ms,
      b.comm_ms,
      b.wait_ms,
      b.total_ms,
      double(b.bytes_sent),
      b.flops,
      double(peak_rss_bytes()),
      double(std::max({workspace_bytes_peak(), f.workspace_peak_bytes, b.workspace_peak_bytes})),
      double(f.steps_computed),
      double(f.steps_skipped),
      double(device_tensors)};
}

std::vector<RankReport> gather_reports(Communicator& comm, const RankReport& mine) {
  const int p = comm.size();
  std::vector<RankReport> all(static_cast<size_t>(p));
  std::vector<int64_t> sizes(static_cast<size_t>(p), int64_t(sizeof(RankReport))), offsets;
  for (int j = 0; j < p; ++j) offsets.push_back(j * int64_t(sizeof(RankReport)));
  comm.allgatherv(&mine, sizeof(RankReport), all.data(), sizes, offsets);
  return all;
}

double max_over_mean(const std::vector<RankReport>& rs, double RankReport::*field) {
  double mx = 0, sum = 0;
  for (const RankReport& r : rs) {
    mx = std::max(mx, r.*field);
    sum += r.*field;
  }
  return sum > 0 ? mx / (sum / double(rs.size())) : 1.0;
}

// The flags that every rank must share (mpirun starts the same command line everywhere, but a
// wrapper script or environment could differ): compared with rank 0's.
dist::Signature flag_signature(const AttnConfig& c, const ParallelFlags& f) {
  return {{"--batch", c.batch},
          {"--seq", c.seq},
          {"--seq-k", c.seq_k},
          {"--heads", c.heads},
          {"--kv-heads", c.kv_heads},
          {"--dim", c.dim},
          {"--dim-v", c.dim_v},
          {"--mask", int64_t(c.mask)},
          {"--window", c.window ? c.window->left * 1000003 + c.window->right : -1},
          {"--dtype", int64_t(c.dtype)},
          {"--threads", c.threads},
          {"--block-q", c.block_q},
          {"--block-k", c.block_k},
          {"--repeat", f.repeat},
          {"--warmup", f.warmup},
          {"--backward", f.backward},
          {"--check", f.check},
          {"--check-rows", f.check_rows},
          {"--seed", f.seed_given ? int64_t(c.seed & 0x7fffffffffffffffULL) : -1},
          {"--device", int64_t(c.backend)},
          {"--comm", f.comm == "nccl" ? 1 : (f.comm == "mpi" ? 2 : 0)}};
}

void check_flags(const AttnConfig& c, const ParallelFlags& f, int ranks) {
  dist::parse_parallel(f.parallel, ranks);
  LONGCTX_CHECK_ARG(c.seq_k == c.seq, "--seq-k",
                    "equal to --seq with --parallel (self-attention over one sharded sequence)",
                    c.seq_k);
  LONGCTX_CHECK_ARG(c.backend == Backend::cpu || c.backend == Backend::cuda, "--backend",
                    "cpu (or --device cuda) with --parallel", "reference");
  LONGCTX_CHECK_ARG(!c.dilated && c.global_tokens == 0 && !c.block_sparse, "--mask",
                    "full or causal (with an optional --window) for --parallel",
                    c.mask_description());
}

Tensor make_tensor(DType t, int64_t a, int64_t b, int64_t c, int64_t d) {
  return Tensor(t, {a, b, c, d});
}

struct Timed {
  std::vector<double> ms;  // slowest rank per run
  RankStats last;          // this rank's statistics of the last timed run
};

template <typename Call>
Timed time_calls(Communicator& comm, int warmup, int repeat, Call call) {
  Timed t;
  for (int i = 0; i < warmup; ++i) call(nullptr);
  for (int i = 0; i < repeat; ++i) {
    comm.barrier();  // start together: the time is the slowest rank's
    call(&t.last);
    double ms = t.last.total_ms;
    comm.allreduce(&ms, 1, dist::ReduceOp::max);
    t.ms.push_back(ms);
  }
  return t;
}

nlohmann::json rank_json(int r, const RankReport& x) {
  return {{"rank", r},
          {"rows", int64_t(x.rows)},
          {"fwd_compute_ms", x.fwd_compute},
          {"fwd_comm_ms", x.fwd_comm},
          {"fwd_wait_ms", x.fwd_wait},
          {"fwd_total_ms", x.fwd_total},
          {"fwd_bytes_sent", int64_t(x.fwd_bytes)},
          {"fwd_flops", x.fwd_flops},
          {"bwd_compute_ms", x.bwd_compute},
          {"bwd_comm_ms", x.bwd_comm},
          {"bwd_wait_ms", x.bwd_wait},
          {"bwd_total_ms", x.bwd_total},
          {"bwd_bytes_sent", int64_t(x.bwd_bytes)},
          {"bwd_flops", x.bwd_flops},
          {"peak_rss_bytes", int64_t(x.peak_rss)},
          {"workspace_bytes_peak", int64_t(x.workspace_peak)},
          {"steps_computed", int64_t(x.steps_computed)},
          {"steps_skipped", int64_t(x.steps_skipped)},
          {"device_tensor_bytes", int64_t(x.device_tensors)}};
}

int run(Communicator& comm, AttnConfig config, const ParallelFlags& f) {
  const int me = comm.rank(), p = comm.size();
  if (!f.seed_given) {  // each process drew its own fresh seed: take rank 0's
    int64_t seed = int64_t(config.seed & 0x7fffffffffffffffULL);
    comm.broadcast(&seed, sizeof(seed), 0);
    config.seed = uint64_t(seed);
  }
  dist::agree_on(comm, flag_signature(config, f), [&] { check_flags(config, f, p); });
  const dist::ParallelConfig pc = dist::parse_parallel(f.parallel, p);
  // --device cuda: the schedules run over a device communicator (NCCL or MPI with staging).
  const std::unique_ptr<Communicator> device_comm =
      make_schedule_comm(comm, config.backend, f.comm);
  Communicator& sched = device_comm ? *device_comm : comm;
  dist::ParallelAttention pa(
      sched, pc, config.seq,
      dist::ParallelOptions{config.threads, config.block_q, config.block_k, config.backend});
  const dist::SequenceLayout& layout = pa.layout();
  const int64_t B = config.batch, n = layout.rows(me), H = config.heads, G = config.kv_heads;
  const int64_t D = config.dim, DV = config.dim_v;
  if (me == 0)
    std::fprintf(stderr, "longctx attn --parallel %s: %s, %s\n", f.parallel.c_str(),
                 layout.describe().c_str(), config.mask_description().c_str());

  const bool need_bwd = f.backward || f.check;
  Tensor q = make_tensor(config.dtype, B, n, H, D), k = make_tensor(config.dtype, B, n, G, D);
  Tensor v = make_tensor(config.dtype, B, n, G, DV), dout = make_tensor(config.dtype, B, n, H, DV);
  Tensor out = make_tensor(config.dtype, B, n, H, DV), lse(DType::f32, {B, H, n});
  Tensor dq, dk, dv;
  if (need_bwd) {
    dq = make_tensor(config.dtype, B, n, H, D);
    dk = make_tensor(config.dtype, B, n, G, D);
    dv = make_tensor(config.dtype, B, n, G, DV);
  }
  // With --check rank 0 holds the whole problem (the oracle needs it) and hands out the rows.
  std::unique_ptr<AttnCase> whole;
  if (f.check) {
    if (me == 0) {
      std::fprintf(stderr, "longctx attn: rank 0 builds the whole problem for --check...\n");
      whole = std::make_unique<AttnCase>(config);
      whole->run_forward();
      whole->run_backward();  // allocates and fills dout; its results are replaced below
    }
    const bool root = me == 0;
    dist::scatter_from_root(comm, layout, root ? whole->q() : TensorView{}, q);
    dist::scatter_from_root(comm, layout, root ? whole->k() : TensorView{}, k);
    dist::scatter_from_root(comm, layout, root ? whole->v() : TensorView{}, v);
    dist::scatter_from_root(comm, layout, root ? whole->dout() : TensorView{}, dout);
  } else {
    Rng rng(config.seed + 0x9e3779b97f4a7c15ULL * uint64_t(me + 1));
    fill_normal(q, rng);
    fill_normal(k, rng);
    fill_normal(v, rng);
    fill_normal(dout, rng);
  }

  const AttentionSpec spec = config.spec();
  // The tensors the schedules read and write: these, or their device copies (--device cuda).
  const RankTensors t(config.backend, {q, k, v, dout, out, lse, dq, dk, dv});
  const Timed fwd = time_calls(comm, f.warmup, f.repeat, [&](RankStats* s) {
    pa.forward(t[0], t[1], t[2], spec, t[4], t[5], s);
  });
  const auto backward = [&](RankStats* s) {
    pa.backward(t[0], t[1], t[2], t[4], t[5], t[3], spec, t[6], t[7], t[8], s);
  };
  Timed bwd;
  if (f.backward) {
    bwd = time_calls(comm, f.warmup, f.repeat, backward);
  } else if (f.check) {
    backward(nullptr);
  }
  if (f.check) t.download();
  const std::vector<RankReport> reports =
      gather_reports(comm, make_report(n, fwd.last, bwd.last, t.device_bytes()));

  // --check: results back to rank 0, into the whole problem's buffers, then the oracle.
  std::optional<CheckResult> check;  // rank 0's
  bool check_passed = true;          // every rank's copy of rank 0's verdict
  if (f.check) {
    const bool root = me == 0;
    dist::gather_to_root(comm, layout, out, root ? whole->out() : TensorView{});
    dist::gather_to_root(comm, layout, lse, root ? whole->lse() : TensorView{}, 2);
    dist::gather_to_root(comm, layout, dq, root ? whole->dq() : TensorView{});
    dist::gather_to_root(comm, layout, dk, root ? whole->dk() : TensorView{});
    dist::gather_to_root(comm, layout, dv, root ? whole->dv() : TensorView{});
    int64_t passed = 0;
    if (root) {
      std::fprintf(stderr, "longctx attn: checking against the float64 oracle...\n");
      CheckOptions co;
      co.sample_rows = f.check_rows;
      co.seed = config.seed + 1;
      check = check_against_oracle(*whole, co);
      passed = check->passed() ? 1 : 0;
    }
    comm.broadcast(&passed, sizeof(passed), 0);
    check_passed = passed == 1;
  }
  if (me != 0) return check_passed ? 0 : 1;

  // ---- rank 0 reports ----
  const FlopCount flops = attention_flops(config);
  const double fwd_ms = median(fwd.ms), bwd_ms = bwd.ms.empty() ? 0.0 : median(bwd.ms);
  nlohmann::json j;
  j["parallel"] = f.parallel;
  j["ranks"] = p;
  j["ulysses"] = pc.ulysses;
  j["ring"] = pc.ring;
  j["sequence_layout"] = dist::layout_kind_name(pc.layout);
  add_problem_json(config, j);
  j["mask"] = config.mask == MaskKind::causal ? "causal" : "full";
  if (config.window) j["window"] = {config.window->left, config.window->right};
  j["simd"] = cpu::simd_target_name();
  j["comm"] = sched.backend_name();
  if (config.backend == Backend::cuda) j["device"] = device_name();
  j["repeat"] = f.repeat;
  j["warmup"] = f.warmup;
  j["visible_pairs"] = flops.visible_pairs;
  j["fwd_ms"] = fwd_ms;
  j["fwd_ms_all"] = fwd.ms;
  j["fwd_gflops"] = flops.forward / (fwd_ms * 1e6);
  if (f.backward) {
    j["bwd_ms"] = bwd_ms;
    j["bwd_ms_all"] = bwd.ms;
    j["bwd_gflops"] = flops.backward / (bwd_ms * 1e6);
  }
  j["flops_max_over_mean"] = max_over_mean(reports, &RankReport::fwd_flops);
  double peak_rss = 0, workspace = 0;
  for (const RankReport& r : reports) {
    peak_rss = std::max(peak_rss, r.peak_rss);
    workspace = std::max(workspace, r.workspace_peak);
  }
  j["peak_rss_bytes"] = int64_t(peak_rss);  // the largest rank's
  j["workspace_bytes_peak"] = int64_t(workspace);
  nlohmann::json per_rank = nlohmann::json::array();
  for (int r = 0; r < p; ++r) per_rank.push_back(rank_json(r, reports[size_t(r)]));
  j["per_rank"] = per_rank;
  if (check) add_check_json(*check, j);

  if (!f.json) {
    std::printf(
        "parallel  %s over %d ranks (%s), B=%lld N=%lld H=%lld G=%lld D=%lld DV=%lld %s %s, "
        "%d thread(s) per rank, seed %llu\n",
        f.parallel.c_str(), p, layout.describe().c_str(), (long long)B, (long long)config.seq,
        (long long)H, (long long)G, (long long)D, (long long)DV, config.mask_description().c_str(),
        std::string(dtype_name(config.dtype)).c_str(), config.threads,
        (unsigned long long)config.seed);
    std::printf("forward   %10.3f ms  %8.1f GFLOP/s  (median of %d; the slowest rank per run)\n",
                fwd_ms, flops.forward / (fwd_ms * 1e6), f.repeat);
    if (f.backward)
      std::printf("backward  %10.3f ms  %8.1f GFLOP/s  (median of %d; FLOPs = 2.5 x forward)\n",
                  bwd_ms, flops.backward / (bwd_ms * 1e6), f.repeat);
    std::printf("%4s %8s  %-28s %-28s %-21s %-17s %9s %9s\n", "rank", "rows",
                "fwd compute/comm/wait ms", "bwd compute/comm/wait ms", "sent fwd / bwd",
                "GFLOP fwd / bwd", "peak RSS", "workspace");
    for (int r = 0; r < p; ++r) {
      const RankReport& x = reports[size_t(r)];
      std::printf(
          "%4d %8lld  %-28s %-28s %-21s %-17s %9s %9s\n", r, (long long)x.rows,
          fmt::format("{:.1f} / {:.1f} / {:.1f}", x.fwd_compute, x.fwd_comm, x.fwd_wait).c_str(),
          f.backward
              ? fmt::format("{:.1f} / {:.1f} / {:.1f}", x.bwd_compute, x.bwd_comm, x.bwd_wait)
                    .c_str()
              : "-",
          fmt::format("{} / {}", format_bytes(x.fwd_bytes), format_bytes(x.bwd_bytes)).c_str(),
          fmt::format("{:.2f} / {:.2f}", x.fwd_flops / 1e9, x.bwd_flops / 1e9).c_str(),
          format_bytes(x.peak_rss).c_str(), format_bytes(x.workspace_peak).c_str());
    }
    std::printf("balance   max/mean counted FLOPs per rank: %.3f\n",
                max_over_mean(reports, &RankReport::fwd_flops));
    if (check) {
      std::printf("check     vs the float64 oracle (%lld query rows%s)\n",
                  (long long)check->rows_checked,
                  check->full_gradients ? "; dQ, dK, dV on all rows" : "");
      print_check_errors(*check);
    }
  } else {
    std::printf("%s\n", j.dump(2).c_str());
  }
  return check_passed ? 0 : 1;
}

}  // namespace

bool wants_parallel_attn(const ParallelFlags& flags) {
  return !flags.parallel.empty() || dist::launched_world_size() > 1;
}

int run_attn_parallel(const AttnConfig& config, const ParallelFlags& flags) {
  const bool rank0 = dist::launched_world_rank() == 0;
  if (flags.parallel.empty()) {  // started by mpirun -n P > 1 without a schedule
    if (rank0)
      std::fprintf(
          stderr,
          "longctx attn: error: argument '--parallel': expected a schedule (ring | zigzag | "
          "striped | ulysses | allgather | usp:UxR) when started by mpirun with %d ranks, "
          "got none\n",
          dist::launched_world_size());
    return 2;
  }
  LONGCTX_CHECK_ARG(dist::mpi_available(), "--parallel",
                    "a longctx built with MPI (LONGCTX_MPI=ON)", "a build without MPI");
  dist::MpiSession session;
  std::unique_ptr<Communicator> world = session.world();
  try {
    return run(*world, config, flags);
  } catch (const ArgumentError& e) {  // agreed: every rank throws the same error
    if (world->rank() == 0) std::fprintf(stderr, "longctx attn: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // one rank only, perhaps: the others must not wait
    std::fprintf(stderr, "longctx attn: rank %d of %d: error: %s\n", world->rank(), world->size(),
                 e.what());
    session.abort(1);
  }
}

}  // namespace longctx::app
