// `longctx attn`: exact attention on the CPU through the public API. Prints the median time,
// GFLOP/s over visible pairs, peak memory; optionally checks against the float64 oracle
// (--check), compares with OpenBLAS sgemm (--vs-gemm) and emits one JSON object (--json).
// The flag names and JSON keys are a contract (issue 2, item 9): change them only additively.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attn_case.hpp"
#include "attn_dsa.hpp"
#include "attn_parallel.hpp"
#include "attn_report.hpp"
#include "attn_sparse_flags.hpp"
#include "cli_parse.hpp"
#include "commands.hpp"
#include "cpu/cpu_attention.hpp"
#include "gemm_baseline.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/core/timer.hpp"
#include "oracle_check.hpp"
#include "report_format.hpp"

namespace longctx::app {
namespace {

struct AttnFlags {
  AttnConfig config;
  std::string mask = "full";
  std::string window;  // "L,R"
  std::string dtype = "f32";
  std::string layout = "bnhd";
  std::string backend = "cpu";
  std::string device = "cpu";
  uint64_t seed = 0;
  bool seed_given = false;
  bool backward = false;
  int repeat = 3;
  int warmup = 1;
  bool check = false;
  int64_t check_rows = 64;
  bool vs_gemm = false;
  int64_t gemm_size = 2048;
  bool json = false;
  SparseMaskFlags sparse;  // --global, --segments, --block, --density, --layout-file
  DsaFlags dsa;            // --topk, --indexer-heads, --indexer-dim, --indexer-groups, --quantized
  std::string parallel;  // --parallel: sequence-parallel schedule under mpirun (attn_parallel.hpp)
  std::string comm = "auto";  // --comm: the GPU schedules' communicator (attn_parallel.hpp)
};

void add_flags(CLI::App& app, AttnFlags& f) {
  AttnConfig& c = f.config;
  app.option_defaults()->always_capture_default();  // --help shows every default
  // Lengths stay below 2^24 so that B·N·M and the FLOP counts cannot overflow int64.
  app.add_option("--batch", c.batch, "batch size B")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  app.add_option("--seq", c.seq, "query length N")
      ->required()
      ->default_str("")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_option("--seq-k", c.seq_k, "key length M (causal aligns bottom-right)")
      ->default_str("N")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_option("--heads", c.heads, "query heads H")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  app.add_option("--kv-heads", c.kv_heads, "key/value heads G, H % G == 0")
      ->default_str("H")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  app.add_option("--dim", c.dim, "head dim D: a multiple of 8 in [32, 256]");
  app.add_option("--dim-v", c.dim_v, "value head dim DV")->default_str("D");
  std::vector<std::string> masks = {"full", "causal"};
  masks.insert(masks.end(), sparse_mask_names().begin(), sparse_mask_names().end());
  masks.push_back("dsa");
  app.add_option("--mask", f.mask, "full | causal | local-global | dilated | block-sparse | dsa")
      ->check(CLI::IsMember(masks));
  add_sparse_mask_flags(app, f.sparse);
  add_dsa_flags(app, f.dsa);
  app.add_option("--window", f.window, "sliding window L,R: keys from q-L to q+R are visible");
  app.add_option("--dtype", f.dtype, "storage dtype of q, k, v: f32 | bf16 | f16")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  app.add_option("--threads", c.threads, "threads (0: all cores)")->check(CLI::Range(0, 4096));
  app.add_flag("--backward", f.backward, "also time the backward pass");
  app.add_option("--repeat", f.repeat, "timed repetitions; the median is reported")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", f.warmup, "untimed calls before timing")->check(CLI::Range(0, 100000));
  app.add_flag("--check", f.check,
               "compare O, LSE, dQ (sampled rows) and dK, dV (in full when N·M <= 2^26) with the "
               "float64 oracle; exit 1 when an error exceeds the dtype's tolerance");
  app.add_option("--check-rows", f.check_rows, "query rows sampled by --check")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_flag("--vs-gemm", f.vs_gemm, "also time OpenBLAS sgemm with the same threads");
  app.add_option("--gemm-size", f.gemm_size, "n of the n^3 sgemm for --vs-gemm")
      ->check(CLI::Range(int64_t(64), int64_t(16384)));
  app.add_flag("--json", f.json, "print one JSON object on stdout (progress on stderr)");
  app.add_option("--parallel", f.parallel,
                 "under mpirun: ring | zigzag | striped | ulysses | allgather | usp:UxR");
  app.add_option("--seed", f.seed, "seed of the random inputs")->default_str("fresh");
  app.add_option("--layout", f.layout, "memory order of the [B,N,H,D] tensors: bnhd | bhnd")
      ->check(CLI::IsMember({"bnhd", "bhnd"}));
  app.add_option("--block-q", c.block_q, "query block rows (0: automatic; else a multiple of 8)")
      ->check(CLI::Range(0, 1 << 16));
  app.add_option("--block-k", c.block_k, "key block rows (0: automatic; else a multiple of 8)")
      ->check(CLI::Range(0, 1 << 16));
  app.add_option("--comm", f.comm,
                 "with --device cuda --parallel: auto | nccl | mpi (host staging; ranks may share "
                 "a GPU); auto = nccl when built and every rank has its own GPU")
      ->check(CLI::IsMember({"auto", "nccl", "mpi"}));
  app.add_option("--device", f.device,
                 "cpu | cuda (Hopper GPU: bf16/f16, D = DV = 64 or 128; timed with CUDA events)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--backend", f.backend, "cpu | reference (the float64 oracle, slow)")
      ->check(CLI::IsMember({"cpu", "reference"}));
}

// "L,R" -> Window; ArgumentError naming --window otherwise.
Window parse_window(const std::string& text) {
  const size_t comma = text.find(',');
  const char* expected = "L,R with integers L >= 0 and R >= 0 (e.g. 256,0)";
  LONGCTX_CHECK_ARG(comma != std::string::npos, "--window", expected, "'" << text << "'");
  Window w;
  try {
    size_t used_l = 0, used_r = 0;
    const std::string l = text.substr(0, comma), r = text.substr(comma + 1);
    w.left = std::stoll(l, &used_l);
    w.right = std::stoll(r, &used_r);
    LONGCTX_CHECK_ARG(used_l == l.size() && used_r == r.size(), "--window", expected,
                      "'" << text << "'");
  } catch (const std::logic_error&) {  // stoll: invalid_argument / out_of_range
    throw ArgumentError("--window", expected, "'" + text + "'");
  }
  LONGCTX_CHECK_ARG(w.left >= 0 && w.right >= 0, "--window", expected, "'" << text << "'");
  return w;
}

// The library validates too, but naming the flag is clearer than naming the tensor.
void validate(const AttnConfig& c) {
  auto check_dim = [](int64_t d, const char* flag) {
    LONGCTX_CHECK_ARG(d >= kMinHeadDim && d <= kMaxHeadDim && d % 8 == 0, flag,
                      "a multiple of 8 in [32, 256]", d);
  };
  check_dim(c.dim, "--dim");
  check_dim(c.dim_v, "--dim-v");
  LONGCTX_CHECK_ARG(c.heads % c.kv_heads == 0, "--kv-heads",
                    "a divisor of --heads (" + std::to_string(c.heads) + ")", c.kv_heads);
  LONGCTX_CHECK_ARG(c.block_q % 8 == 0, "--block-q", "0 or a multiple of 8", c.block_q);
  LONGCTX_CHECK_ARG(c.block_k % 8 == 0, "--block-k", "0 or a multiple of 8", c.block_k);
}

AttnConfig make_config(AttnFlags& f) {
  AttnConfig c = f.config;
  c.mask = f.mask == "causal" ? MaskKind::causal : MaskKind::full;
  if (!f.window.empty()) c.window = parse_window(f.window);
  c.dtype = parse_dtype(f.dtype, "--dtype");
  c.layout = parse_layout(f.layout);
  c.backend = f.backend == "reference" ? Backend::reference : Backend::cpu;
  if (f.device == "cuda") {
    LONGCTX_CHECK_ARG(f.backend == "cpu", "--backend", "cpu (the default) with --device cuda",
                      f.backend);
    LONGCTX_CHECK_ARG(c.dtype == DType::bf16 || c.dtype == DType::f16, "--dtype",
                      "bf16 or f16 with --device cuda", f.dtype);
    c.backend = Backend::cuda;
  }
  c.threads = resolve_threads(c.threads);
  c.seed = f.seed_given ? f.seed : fresh_seed();
  c.resolve_defaults();
  validate(c);
  return c;
}

const char* backend_name(Backend b) {
  return b == Backend::cuda ? "cuda" : b == Backend::reference ? "reference" : "cpu";
}

struct Timings {
  std::vector<double> fwd_ms, bwd_ms;
};

Timings run_timed(AttnCase& c, const AttnFlags& f, bool verbose) {
  Timings t;
  for (int i = 0; i < f.warmup; ++i) c.run_forward();
  for (int i = 0; i < f.repeat; ++i) {
    t.fwd_ms.push_back(c.run_forward());
    if (verbose)
      std::fprintf(stderr, "  forward %d/%d: %.2f ms\n", i + 1, f.repeat, t.fwd_ms.back());
  }
  if (!f.backward) return t;
  for (int i = 0; i < f.warmup; ++i) c.run_backward();
  for (int i = 0; i < f.repeat; ++i) {
    t.bwd_ms.push_back(c.run_backward());
    if (verbose)
      std::fprintf(stderr, "  backward %d/%d: %.2f ms\n", i + 1, f.repeat, t.bwd_ms.back());
  }
  return t;
}

std::string config_line(const AttnConfig& c) {
  std::string window =
      c.window ? fmt::format(" window({},{})", c.window->left, c.window->right) : "";
  return fmt::format(
      "B={} N={} M={} H={} G={} D={} DV={} mask={}{} dtype={} layout={} threads={} backend={} "
      "simd={} seed={}",
      c.batch, c.seq, c.seq_k, c.heads, c.kv_heads, c.dim, c.dim_v, mask_name(c),
      window + sparse_mask_details(c), dtype_name(c.dtype), layout_name(c.layout), c.threads,
      backend_name(c.backend), c.backend == Backend::cuda ? device_name() : cpu::simd_target_name(),
      c.seed);
}

}  // namespace

int cmd_attn(int argc, char** argv) {
  CLI::App app{"longctx attn: exact attention on the CPU (time, GFLOP/s, memory, --check)",
               "longctx attn"};
  AttnFlags flags;
  add_flags(app, flags);
  if (std::optional<int> rc = parse_command_line(app, "longctx attn", argc, argv)) return *rc;
  flags.seed_given = app.count("--seed") > 0;
  AttnConfig config = make_config(flags);
  apply_sparse_mask_flags(app, flags.mask, flags.sparse, config);
  const DsaRunFlags dsa_run{flags.repeat, flags.warmup, flags.backward,
                            flags.check,  flags.json,   flags.check_rows};
  if (std::optional<int> rc = maybe_run_dsa(app, flags.mask, config, dsa_run, flags.dsa))
    return *rc;
  const ParallelFlags parallel{flags.parallel, flags.backward,   flags.check,
                               flags.json,     flags.seed_given, flags.repeat,
                               flags.warmup,   flags.check_rows, flags.comm};
  if (wants_parallel_attn(parallel)) return run_attn_parallel(config, parallel);
  const bool human = !flags.json;

  std::fprintf(stderr, "longctx attn: %s\n", config_line(config).c_str());
  AttnCase c(config);
  const FlopCount flops = attention_flops(c.config());
  const Timings t = run_timed(c, flags, true);
  const int64_t peak_rss = peak_rss_bytes();
  const int64_t workspace_peak = workspace_bytes_peak();

  nlohmann::json j;
  add_problem_json(config, j);
  add_sparse_mask_json(config, flags.sparse, j);  // "mask" and the sparse masks' keys
  if (config.window) j["window"] = {config.window->left, config.window->right};
  j["layout"] = layout_name(config.layout);
  j["backend"] = backend_name(config.backend);
  j["simd"] = cpu::simd_target_name();
  if (config.backend == Backend::cuda) j["device"] = device_name();
  j["repeat"] = flags.repeat;
  j["warmup"] = flags.warmup;
  j["visible_pairs"] = flops.visible_pairs;

  const double fwd_ms = median(t.fwd_ms);
  const double fwd_gflops = flops.forward / (fwd_ms * 1e6);
  j["fwd_ms"] = fwd_ms;
  j["fwd_ms_all"] = t.fwd_ms;
  j["fwd_gflops"] = fwd_gflops;
  double bwd_ms = 0.0, bwd_gflops = 0.0;
  if (!t.bwd_ms.empty()) {
    bwd_ms = median(t.bwd_ms);
    bwd_gflops = flops.backward / (bwd_ms * 1e6);
    j["bwd_ms"] = bwd_ms;
    j["bwd_ms_all"] = t.bwd_ms;
    j["bwd_gflops"] = bwd_gflops;
  }
  j["peak_rss_bytes"] = peak_rss;
  j["workspace_bytes_peak"] = workspace_peak;
  j["tensor_bytes"] = c.tensor_bytes();
  j["naive_score_bytes"] = naive_score_bytes(c.config());

  if (human) {
    std::printf("%s\n", config_line(config).c_str());
    std::printf("forward   %10.3f ms  %8.1f GFLOP/s  (median of %d; %lld visible pairs per head)\n",
                fwd_ms, fwd_gflops, flags.repeat, static_cast<long long>(flops.visible_pairs));
    if (!t.bwd_ms.empty())
      std::printf("backward  %10.3f ms  %8.1f GFLOP/s  (median of %d; FLOPs = 2.5 x forward)\n",
                  bwd_ms, bwd_gflops, flags.repeat);
    std::printf(
        "memory    peak RSS %s, library workspace peak %s, tensors %s "
        "(a naive float32 score matrix alone: %s)\n",
        format_bytes(double(peak_rss)).c_str(), format_bytes(double(workspace_peak)).c_str(),
        format_bytes(double(c.tensor_bytes())).c_str(),
        format_bytes(naive_score_bytes(c.config())).c_str());
  }

  int exit_code = 0;
  if (flags.check) {
    std::fprintf(stderr, "longctx attn: checking against the float64 oracle...\n");
    CheckOptions co;
    co.sample_rows = flags.check_rows;
    co.seed = config.seed + 1;
    const CheckResult r = check_against_oracle(c, co);
    add_check_json(r, j);
    if (human) {
      std::printf(
          "check     max relative error vs the float64 oracle (max|x-ref| / max|ref| per tensor; "
          "%lld query rows x all batches and heads%s)\n",
          static_cast<long long>(r.rows_checked),
          r.full_gradients ? "; dQ, dK, dV on all rows" : "");
      print_check_errors(r);
    }
    if (!r.passed()) exit_code = 1;
  }

  if (flags.vs_gemm) {
    std::fprintf(stderr, "longctx attn: timing sgemm %lld^3 on %d threads...\n",
                 static_cast<long long>(flags.gemm_size), config.threads);
    const GemmResult g = measure_sgemm(flags.gemm_size, config.threads, std::max(flags.repeat, 3));
    j["gemm_gflops"] = g.gflops;
    j["gemm_ms"] = g.ms;
    j["gemm_size"] = g.size;
    j["blas"] = g.blas;
    j["fwd_vs_gemm"] = fwd_gflops / g.gflops;
    if (!t.bwd_ms.empty()) j["bwd_vs_gemm"] = bwd_gflops / g.gflops;
    if (human) {
      std::printf("gemm      sgemm %lld^3 %10.3f ms  %8.1f GFLOP/s  [%s]\n",
                  static_cast<long long>(g.size), g.ms, g.gflops, g.blas.c_str());
      std::printf("ratio     forward / gemm = %.2f", fwd_gflops / g.gflops);
      if (!t.bwd_ms.empty()) std::printf("   backward / gemm = %.2f", bwd_gflops / g.gflops);
      std::printf("\n");
    }
  }

  if (flags.json) std::printf("%s\n", j.dump(2).c_str());
  return exit_code;
}

}  // namespace longctx::app
