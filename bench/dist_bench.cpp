// Sequence-parallel benchmark (issue 4): runs `longctx attn` (beside this program in bin/) under
// `mpirun` and prints Markdown tables for docs/PERF.md:
//   balance     causal, P = 4: max/mean counted FLOPs per rank per schedule;
//   efficiency  causal forward + backward, P = 2 ranks × 1 thread against 1 process × 1 thread:
//               T(1) / (2 · T(2)), with the slowest rank's compute / communication / wait;
//   memory      N/P fixed, P = 1..4: per-rank peak library workspace (schedule buffers included)
//               and peak RSS;
//   bytes       P = 4: bytes sent per rank, measured against the formulas of SPEC §4.
//
//   dist_bench [--sections balance,efficiency,memory,bytes] [--seq 32768] [--dim 128] ...
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

std::string bin_dir() {
  std::array<char, 4096> buf{};
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  std::string self(buf.data(), n > 0 ? size_t(n) : 0);
  return self.substr(0, self.rfind('/'));
}

// Runs `[mpirun -n ranks] longctx attn <args> --json` and parses its JSON (exits on failure).
nlohmann::json run_attn(int ranks, const std::string& args) {
  const std::string longctx = bin_dir() + "/longctx";
  std::string command;
  if (ranks > 0)
    command = fmt::format(
        "OMPI_MCA_btl=${{OMPI_MCA_btl:-self,vader}} mpirun --oversubscribe {}-n {} '{}' attn {} "
        "--json",
        geteuid() == 0 ? "--allow-run-as-root " : "", ranks, longctx, args);
  else
    command = fmt::format("'{}' attn {} --json", longctx, args);
  std::fprintf(stderr, "dist_bench: %s\n", command.c_str());
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t got;
  while (pipe && (got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0)
    out.append(buf.data(), got);
  const int rc = pipe ? pclose(pipe) : -1;
  try {
    if (rc == 0) return nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception&) {
  }
  std::fprintf(stderr, "dist_bench: failed (status %d): %s\n", rc, command.c_str());
  std::exit(1);
}

double max_field(const nlohmann::json& j, const char* key) {
  double m = 0;
  for (const auto& r : j["per_rank"]) m = std::max(m, r[key].get<double>());
  return m;
}

struct Flags {
  std::string sections = "balance,efficiency,memory,bytes";
  int64_t seq = 32768, dim = 128, heads = 1;
  int repeat = 3;
  int64_t balance_seq = 16384;
  int64_t memory_rows = 2048;  // N/P of the memory table
  int64_t memory_heads = 12;
};

void balance(const Flags& f) {
  std::printf("\n### Load balance: causal, P = 4, N = %lld, H = 4, d = 64 (counted FLOPs)\n\n",
              (long long)f.balance_seq);
  std::printf(
      "| schedule | max/mean counted FLOPs per rank | per-rank GFLOP (fwd) |\n|---|---|---|\n");
  for (const char* s : {"ring", "zigzag", "striped", "allgather", "ulysses", "usp:2x2"}) {
    const auto j =
        run_attn(4, fmt::format("--parallel {} --seq {} --heads 4 --dim 64 --mask causal "
                                "--threads 1 --repeat 1 --warmup 0",
                                s, f.balance_seq));
    std::string per;
    for (const auto& r : j["per_rank"])
      per += fmt::format("{}{:.2f}", per.empty() ? "" : " / ", r["fwd_flops"].get<double>() / 1e9);
    std::printf("| %s | %.3f | %s |\n", s, j["flops_max_over_mean"].get<double>(), per.c_str());
    std::fflush(stdout);
  }
}

void efficiency(const Flags& f) {
  const std::string common = fmt::format(
      "--seq {} --heads {} --dim {} --mask causal --threads 1 --backward --repeat {} --warmup 1",
      f.seq, f.heads, f.dim, f.repeat);
  std::printf(
      "\n### Parallel efficiency: causal N = %lld, H = %lld, d = %lld, forward + backward, "
      "1 thread per rank (median of %d)\n\n",
      (long long)f.seq, (long long)f.heads, (long long)f.dim, f.repeat);
  const auto single = run_attn(0, common);
  const double t1 = single["fwd_ms"].get<double>() + single["bwd_ms"].get<double>();
  std::printf(
      "| run | fwd ms | bwd ms | fwd+bwd ms | efficiency T1/(2·T2) | slowest rank compute / comm / "
      "wait ms (fwd+bwd) |\n|---|---|---|---|---|---|\n");
  std::printf("| 1 process | %.0f | %.0f | %.0f | 1 | - |\n", single["fwd_ms"].get<double>(),
              single["bwd_ms"].get<double>(), t1);
  std::fflush(stdout);
  for (const char* s : {"zigzag", "ring", "striped"}) {
    const auto j = run_attn(2, fmt::format("--parallel {} {}", s, common));
    const double t2 = j["fwd_ms"].get<double>() + j["bwd_ms"].get<double>();
    double worst = -1, comp = 0, comm = 0, wait = 0;
    for (const auto& r : j["per_rank"]) {
      const double total = r["fwd_total_ms"].get<double>() + r["bwd_total_ms"].get<double>();
      if (total <= worst) continue;
      worst = total;
      comp = r["fwd_compute_ms"].get<double>() + r["bwd_compute_ms"].get<double>();
      comm = r["fwd_comm_ms"].get<double>() + r["bwd_comm_ms"].get<double>();
      wait = r["fwd_wait_ms"].get<double>() + r["bwd_wait_ms"].get<double>();
    }
    std::printf("| 2 ranks, %s | %.0f | %.0f | %.0f | **%.2f** | %.0f / %.0f / %.0f |\n", s,
                j["fwd_ms"].get<double>(), j["bwd_ms"].get<double>(), t2, t1 / (2 * t2), comp, comm,
                wait);
    std::fflush(stdout);
  }
}

void memory(const Flags& f) {
  std::printf(
      "\n### Memory per rank, N/P = %lld fixed: causal, H = G = %lld, d = 64, f32, forward + "
      "backward (max over ranks)\n\n",
      (long long)f.memory_rows, (long long)f.memory_heads);
  std::printf(
      "| schedule | P = 1 workspace / RSS | P = 2 | P = 3 | P = 4 |\n|---|---|---|---|---|\n");
  for (const char* s : {"ring", "zigzag", "allgather", "ulysses"}) {
    std::string line = fmt::format("| {} ", s);
    for (int p = 1; p <= 4; ++p) {
      const auto j = run_attn(p, fmt::format("--parallel {} --seq {} --heads {} --dim 64 --mask "
                                             "causal --threads 1 --backward --repeat 1 --warmup 0",
                                             s, f.memory_rows * p, f.memory_heads));
      line +=
          fmt::format("| {:.1f} / {:.1f} MiB ", max_field(j, "workspace_bytes_peak") / 1048576.0,
                      max_field(j, "peak_rss_bytes") / 1048576.0);
    }
    std::printf("%s|\n", line.c_str());
    std::fflush(stdout);
  }
}

// Bytes every rank sends per call under the formulas of SPEC §4 (f32 storage, equal shards,
// causal: the ring forwards every block). U × R: Ulysses degree × ring length.
struct Bytes {
  double fwd, bwd;
};
Bytes formula(int u, int r, bool allgather, double n, double h, double g, double d) {
  const double p = u * r, rows = n / p, e = 4;
  if (allgather) {
    const double kv = rows * g * 2 * d * e;
    return {(p - 1) * kv, (p - 1) * kv + (p - 1) * rows * g * 2 * d * 4};
  }
  const double gu = std::fmod(g, double(u)) == 0 ? g / u : 1;  // KV heads per Ulysses member
  const double group_rows = n / r;
  const double a2a = (u - 1) / double(u);                 // share of a tensor leaving a rank
  const double kv_out = (u - 1) * rows * gu * 2 * d * e;  // K, V to the other members
  const double ring_kv = (r - 1) * group_rows * gu * 2 * d * e;
  const double ring_dkv = (r > 1 ? r : 0) * group_rows * gu * 2 * d * 4;
  const double fwd = a2a * rows * h * d * e + kv_out + ring_kv + a2a * rows * h * (d + 1) * 4;
  const double bwd = a2a * rows * h * d * e + kv_out + a2a * rows * h * (2 * d + 1) * e + ring_kv +
                     ring_dkv + a2a * rows * h * d * 4 + (u - 1) * rows * gu * 2 * d * 4;
  return {fwd, bwd};
}

void bytes(const Flags& f) {
  const double n = 8192, h = 4, g = 2, d = 64;
  std::printf(
      "\n### Bytes sent per rank: P = 4, causal N = 8192, H = 4, G = 2, d = 64, f32 "
      "(measured, max over ranks / SPEC §4 formula)\n\n");
  std::printf("| schedule | forward | backward |\n|---|---|---|\n");
  struct S {
    const char* name;
    int u, r;
    bool allgather;
  };
  for (const S& s :
       {S{"ring", 1, 4, false}, S{"zigzag", 1, 4, false}, S{"striped", 1, 4, false},
        S{"allgather", 1, 4, true}, S{"ulysses", 4, 1, false}, S{"usp:2x2", 2, 2, false}}) {
    const auto j =
        run_attn(4, fmt::format("--parallel {} --seq 8192 --heads 4 --kv-heads 2 --dim 64 "
                                "--mask causal --threads 1 --backward --repeat 1 --warmup 0",
                                s.name));
    const Bytes b = formula(s.u, s.r, s.allgather, n, h, g, d);
    std::printf("| %s | %.3f / %.3f MiB | %.3f / %.3f MiB |\n", s.name,
                max_field(j, "fwd_bytes_sent") / 1048576.0, b.fwd / 1048576.0,
                max_field(j, "bwd_bytes_sent") / 1048576.0, b.bwd / 1048576.0);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dist_bench: sequence-parallel schedules under mpirun (issue 4)"};
  Flags f;
  app.add_option("--sections", f.sections, "comma-separated: balance,efficiency,memory,bytes");
  app.add_option("--seq", f.seq, "N of the efficiency table");
  app.add_option("--dim", f.dim, "d of the efficiency table");
  app.add_option("--heads", f.heads, "H of the efficiency table");
  app.add_option("--repeat", f.repeat, "timed runs of the efficiency table (median)");
  app.add_option("--balance-seq", f.balance_seq, "N of the balance table");
  app.add_option("--memory-rows", f.memory_rows, "N/P of the memory table");
  CLI11_PARSE(app, argc, argv);
  auto has = [&](const char* s) { return f.sections.find(s) != std::string::npos; };
  if (has("balance")) balance(f);
  if (has("bytes")) bytes(f);
  if (has("memory")) memory(f);
  if (has("efficiency")) efficiency(f);
  return 0;
}
