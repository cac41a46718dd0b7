// dsa: the DeepSeek Sparse Attention target of issue 3 measured in one process. For each length
// N: the DSA forward (lightning indexer + top-k + sparse attention over the selected keys; float32
// and int8 indexers) and the foundation's dense causal FlashAttention-2 forward at the same size,
// with the time split per DSA stage and the speedup over dense.
//
// Dense causal at N = 131072 with H = 32 takes minutes on two cores; its cost is exactly linear in
// the number of query heads (FLOPs ∝ H, GQA only shares K/V), so by default it runs with
// --dense-heads query heads (one KV head) and its time is scaled by H / dense-heads. The output
// says so. Medians of --repeat runs (one warm-up). Besides wall time it reports the process CPU
// time of each measured call and the speedup by CPU time: on a shared machine other processes
// stretch the wall time of whichever run they overlap, but hardly the CPU time.
//   build/bin/dsa_bench --threads 2                       # N = 65536 and 131072, as PERF.md
//   build/bin/dsa_bench --threads 2 --seq 16384 --json    # smaller, one JSON object
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attn_case.hpp"
#include "cpu/cpu_attention.hpp"
#include "dsa_case.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/core/timer.hpp"

namespace {

using namespace longctx;
using namespace longctx::app;

struct Options {
  int threads = 2;
  std::vector<int64_t> seqs{65536, 131072};
  int64_t heads = 32, kv_heads = 8, dim = 128;
  int64_t top_k = 2048, indexer_heads = 8, indexer_dim = 64;
  int64_t dense_heads = 2;  // 0: all H heads
  int repeat = 1;
  bool f32_indexer = true, int8_indexer = true;
  bool json = false;
};

struct Stages {
  double indexer_ms = 0, topk_ms = 0, attention_ms = 0, total_ms = 0;
  double cpu_ms = 0;  // process CPU time of the forward (all threads)
};

// Process CPU time in ms: on a shared machine other processes stretch wall time but not this.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// Medians over `repeat` forwards after one warm-up; the selection's thread-seconds are turned
// into wall-time shares of the selection (key packing counts as indexer time).
Stages time_dsa(DsaCase& c, int repeat) {
  c.run_forward();
  std::vector<double> idx, topk, attn, total, cpu;
  for (int i = 0; i < repeat; ++i) {
    const double cpu0 = cpu_ms();
    const DsaForwardTiming t = c.run_forward();
    cpu.push_back(cpu_ms() - cpu0);
    const double busy = t.profile.scores_s + t.profile.topk_s;
    const double wall = t.select_ms - 1e3 * t.profile.pack_s;
    idx.push_back(1e3 * t.profile.pack_s + (busy > 0 ? wall * t.profile.scores_s / busy : 0));
    topk.push_back(busy > 0 ? wall * t.profile.topk_s / busy : 0);
    attn.push_back(t.attention_ms);
    total.push_back(t.total_ms());
    std::fprintf(stderr, "    dsa run %d/%d: %.0f ms (indexer %.0f, top-k %.0f, attention %.0f)\n",
                 i + 1, repeat, total.back(), idx.back(), topk.back(), attn.back());
  }
  return {median(idx), median(topk), median(attn), median(total), median(cpu)};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"dsa_bench: DeepSeek Sparse Attention forward vs dense causal attention"};
  app.add_option("--threads", o.threads, "threads");
  app.add_option("--seq", o.seqs, "sequence lengths N (= M)");
  app.add_option("--heads", o.heads, "query heads H");
  app.add_option("--kv-heads", o.kv_heads, "KV heads G");
  app.add_option("--dim", o.dim, "head dim d");
  app.add_option("--topk", o.top_k, "keys per query k");
  app.add_option("--indexer-heads", o.indexer_heads, "indexer heads H_I");
  app.add_option("--indexer-dim", o.indexer_dim, "indexer dim d_I");
  app.add_option("--dense-heads", o.dense_heads,
                 "query heads of the dense run, scaled to H (0: run all H heads)");
  app.add_option("--repeat", o.repeat, "timed runs per measurement (median)");
  app.add_flag("!--no-f32-indexer", o.f32_indexer, "skip the float32 indexer");
  app.add_flag("!--no-int8-indexer", o.int8_indexer, "skip the int8 indexer");
  app.add_flag("--json", o.json, "one JSON object on stdout");
  CLI11_PARSE(app, argc, argv);
  const int threads = resolve_threads(o.threads);

  nlohmann::json rows = nlohmann::json::array();
  std::printf(
      "DSA forward vs dense causal forward, H=%lld G=%lld d=%lld k=%lld H_I=%lld d_I=%lld, "
      "%d threads, simd %s\n",
      static_cast<long long>(o.heads), static_cast<long long>(o.kv_heads),
      static_cast<long long>(o.dim), static_cast<long long>(o.top_k),
      static_cast<long long>(o.indexer_heads), static_cast<long long>(o.indexer_dim), threads,
      cpu::simd_target_name());
  for (int64_t n : o.seqs) {
    nlohmann::json row;
    row["seq"] = n;
    // Dense causal, on dense_heads heads (one KV head), scaled linearly to H.
    AttnConfig dc;
    dc.seq = dc.seq_k = n;
    dc.heads = o.dense_heads > 0 ? o.dense_heads : o.heads;
    dc.kv_heads = o.dense_heads > 0 ? 1 : o.kv_heads;
    dc.dim = dc.dim_v = o.dim;
    dc.mask = MaskKind::causal;
    dc.threads = threads;
    dc.seed = 1;
    double dense_ms = 0.0, dense_cpu_ms = 0.0;
    {
      std::fprintf(stderr, "N=%lld: dense causal on %lld heads...\n", static_cast<long long>(n),
                   static_cast<long long>(dc.heads));
      AttnCase dense(dc);
      dense.run_forward();  // warm-up
      std::vector<double> ms, cpu;
      for (int i = 0; i < o.repeat; ++i) {
        const double cpu0 = cpu_ms();
        ms.push_back(dense.run_forward());
        cpu.push_back(cpu_ms() - cpu0);
      }
      const double measured = median(ms), scale = double(o.heads) / double(dc.heads);
      dense_ms = measured * scale;
      dense_cpu_ms = median(cpu) * scale;
      row["dense_measured_ms"] = measured;
      row["dense_measured_heads"] = dc.heads;
      row["dense_ms"] = dense_ms;
      row["dense_cpu_ms"] = dense_cpu_ms;
      std::printf(
          "N=%-7lld dense causal   %10.0f ms  (measured %.0f ms on %lld heads x %.1f; CPU time "
          "%.0f ms)\n",
          static_cast<long long>(n), dense_ms, measured, static_cast<long long>(dc.heads), scale,
          dense_cpu_ms);
    }
    std::vector<bool> quantized;
    if (o.f32_indexer) quantized.push_back(false);
    if (o.int8_indexer) quantized.push_back(true);
    for (bool q : quantized) {
      DsaConfig c;
      c.attn.seq = c.attn.seq_k = n;
      c.attn.heads = o.heads;
      c.attn.kv_heads = o.kv_heads;
      c.attn.dim = c.attn.dim_v = o.dim;
      c.attn.threads = threads;
      c.attn.seed = 2;
      c.top_k = o.top_k;
      c.indexer_heads = o.indexer_heads;
      c.indexer_dim = o.indexer_dim;
      c.quantized = q;
      std::fprintf(stderr, "N=%lld: DSA with the %s indexer...\n", static_cast<long long>(n),
                   q ? "int8" : "f32");
      DsaCase dsa(c);
      const Stages s = time_dsa(dsa, o.repeat);
      const char* key = q ? "dsa_int8" : "dsa_f32";
      row[key] = {{"indexer_ms", s.indexer_ms},
                  {"topk_ms", s.topk_ms},
                  {"attention_ms", s.attention_ms},
                  {"total_ms", s.total_ms},
                  {"cpu_ms", s.cpu_ms},
                  {"speedup", dense_ms / s.total_ms},
                  {"speedup_cpu_time", dense_cpu_ms / s.cpu_ms}};
      std::printf(
          "N=%-7lld DSA %s indexer %10.0f ms = indexer %.0f + top-k %.0f + attention %.0f"
          "  -> %.1fx faster than dense (CPU time %.0f ms: %.1fx)\n",
          static_cast<long long>(n), q ? "int8" : "f32 ", s.total_ms, s.indexer_ms, s.topk_ms,
          s.attention_ms, dense_ms / s.total_ms, s.cpu_ms, dense_cpu_ms / s.cpu_ms);
      if (q) {
        const double recall = dsa.quantized_recall();
        row[key]["recall"] = recall;
        std::printf("N=%-7lld int8 indexer top-k recall vs float32: %.4f\n",
                    static_cast<long long>(n), recall);
      }
      std::fflush(stdout);
    }
    row["peak_rss_bytes"] = peak_rss_bytes();
    rows.push_back(row);
  }
  if (o.json) {
    nlohmann::json j;
    j["threads"] = threads;
    j["rows"] = rows;
    std::printf("%s\n", j.dump(2).c_str());
  }
  return 0;
}
