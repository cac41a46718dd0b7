// Demo section of issue 4: sequence parallelism over real processes. The demo launches
// `mpirun -n 2 longctx attn --parallel zigzag ...` itself (when mpirun exists and this build has
// MPI): one small run checked against the float64 oracle (forward and backward), then one timed
// causal forward + backward whose time is set against the same problem on one process with one
// thread — the parallel efficiency T(1 rank) / (2 · T(2 ranks)).
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "attn_case.hpp"
#include "demo_sections.hpp"
#include "longctx/dist/mpi_communicator.hpp"

namespace longctx::app {
namespace {

constexpr int kRanks = 2;

// The mpirun on PATH, or empty.
std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/mpirun";
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string self_executable() {
  std::array<char, 4096> buf{};
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), size_t(n)) : "";
}

// Runs a command, returns its stdout and exit status.
struct Output {
  std::string out;
  int status = -1;
};
Output run_command(const std::string& command) {
  Output o;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return o;
  std::array<char, 4096> buf{};
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) o.out.append(buf.data(), got);
  const int rc = pclose(pipe);
  o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return o;
}

// `mpirun -n 2 longctx attn --parallel zigzag ... --json`, parsed; nullopt (and a note) on failure.
std::optional<nlohmann::json> run_parallel(const std::string& mpirun, const std::string& args,
                                           std::string& note) {
  // Root needs OpenMPI's consent; shared memory only, so that no network is probed, and without
  // the single-copy path that containers may refuse; OpenMPI's allocations at exit would fail a
  // sanitizer build's leak check.
  const std::string env =
      "OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} "
      "OMPI_MCA_btl_vader_single_copy_mechanism="
      "${OMPI_MCA_btl_vader_single_copy_mechanism:-none} "
      "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" ";
  const std::string command =
      env + fmt::format("{} --oversubscribe {}-n {} '{}' attn {} --json 2>/dev/null", mpirun,
                        geteuid() == 0 ? "--allow-run-as-root " : "", kRanks, self_executable(),
                        args);
  const Output o = run_command(command);
  try {
    if (o.status == 0 || o.status == 1) return nlohmann::json::parse(o.out);
  } catch (const nlohmann::json::exception&) {
  }
  note =
      fmt::format("failed: `mpirun -n {} longctx attn {}` exited with {}", kRanks, args, o.status);
  return std::nullopt;
}

}  // namespace

void run_distributed(DemoContext& ctx) {
  const char* section = "sequence parallel (zigzag, 2 processes)";
  const bool quick = ctx.settings().quick;
  const std::string mpirun = find_mpirun();
  DemoRow skip;
  skip.section = section;
  skip.what = "zigzag P=2 fwd+bwd";
  if (!dist::mpi_available() || mpirun.empty()) {
    skip.note = dist::mpi_available() ? "skipped: mpirun not found (apt-get install openmpi-bin)"
                                      : "skipped: this longctx was built without MPI";
    ctx.add(skip);
    return;
  }

  // 1. Exactness: a small causal problem, forward and backward, against the float64 oracle.
  const uint64_t seed = ctx.next_seed();
  DemoRow check;
  check.section = section;
  check.what = "zigzag P=2 check";
  check.tokens = quick ? 512 : 2048;
  const std::string check_args = fmt::format(
      "--parallel zigzag --seq {} --heads 2 --kv-heads 1 --dim 64 --mask causal --threads 1 "
      "--repeat 1 --warmup 0 --check --backward --seed {}",
      check.tokens, seed);
  if (const auto j = run_parallel(mpirun, check_args, check.note)) {
    double err = 0;
    for (const char* key : {"err_out", "err_lse", "err_dq", "err_dk", "err_dv"})
      if (j->contains(key)) err = std::max(err, (*j)[key].get<double>());
    check.max_error = err;
    check.tolerance = (*j)["tolerance"].get<double>();
    check.passed = (*j)["check_passed"].get<bool>();
    check.ms = (*j)["fwd_ms"].get<double>() + (*j)["bwd_ms"].get<double>();
    check.gflops = ((*j)["fwd_gflops"].get<double>() * (*j)["fwd_ms"].get<double>() +
                    (*j)["bwd_gflops"].get<double>() * (*j)["bwd_ms"].get<double>()) /
                   check.ms;
    check.naive_bytes = 2.0 * double(check.tokens) * double(check.tokens) * 4.0;  // H = 2
    for (const auto& r : (*j)["per_rank"])
      check.peak_rss_bytes = std::max(check.peak_rss_bytes, r["peak_rss_bytes"].get<int64_t>());
  } else {
    check.passed = false;
  }
  ctx.add(check);

  // 2. Efficiency: causal forward + backward, one thread per rank, against one process.
  AttnConfig c;
  c.seq = c.seq_k = quick ? 2048 : std::min<int64_t>(16384, ctx.settings().max_seq);
  c.heads = c.kv_heads = 2;
  c.dim = c.dim_v = quick ? 64 : 128;
  c.mask = MaskKind::causal;
  c.threads = 1;
  c.seed = ctx.next_seed();
  DemoRow row;
  row.section = section;
  row.what = fmt::format("fwd+bwd d={} 1 thr", c.dim);
  row.tokens = c.seq;
  row.naive_bytes = naive_score_bytes(c);
  const FlopCount flops = attention_flops(c);
  // One thread does ~40 GFLOP/s on this kernel; the single-process run plus the two-rank run
  // take about 1.6 × its time.
  const double estimate_s = 1.6 * (flops.forward + flops.backward) / 40e9;
  if (!ctx.fits_budget(estimate_s)) {
    row.note = fmt::format("skipped: ~{:.0f} s would pass the {:.0f} s budget", estimate_s,
                           ctx.settings().budget_s);
    ctx.add(row);
    return;
  }
  AttnCase single(c);
  single.run_forward();  // warm-up (packing buffers, page faults)
  const double t1 = single.run_forward() + single.run_backward();
  const std::string args = fmt::format(
      "--parallel zigzag --seq {} --heads {} --dim {} --mask causal --threads 1 --repeat 1 "
      "--warmup 1 --backward --seed {}",
      c.seq, c.heads, c.dim, c.seed);
  if (const auto j = run_parallel(mpirun, args, row.note)) {
    row.ms = (*j)["fwd_ms"].get<double>() + (*j)["bwd_ms"].get<double>();
    row.gflops = (flops.forward + flops.backward) / (row.ms * 1e6);
    for (const auto& r : (*j)["per_rank"])
      row.peak_rss_bytes = std::max(row.peak_rss_bytes, r["peak_rss_bytes"].get<int64_t>());
    DemoRow eff;  // a note row: the table prints notes of rows without a time
    eff.section = section;
    eff.what = "efficiency";
    eff.tokens = c.seq;
    eff.note = fmt::format(
        "T(1 process) / (2 x T(2 processes)) = {:.0f} ms / (2 x {:.0f} ms) = {:.2f}; "
        "counted FLOPs max/mean over ranks {:.2f}",
        t1, row.ms, t1 / (kRanks * row.ms), (*j)["flops_max_over_mean"].get<double>());
    ctx.add(row);
    ctx.add(eff);
    return;
  }
  row.passed = false;
  ctx.add(row);
}

}  // namespace longctx::app
