// Human-readable tables for `longctx plan` (GiB with two decimals, GB/s, seconds).
#include <fmt/format.h>

#include "longctx/plan/report.hpp"

namespace longctx::plan {
namespace {

constexpr double kGiB = double(1ull << 30);

std::string gib(double b) {
  return fmt::format("{:.2f}", b / kGiB);
}

std::string model_line(const ModelConfig& m) {
  return fmt::format("{}: {:.2f}B params, h={} L={} heads={} kv_heads={} d={} ffn={} vocab={}{}",
                     m.name, double(count_params(m).total(m.layers)) / 1e9, m.hidden, m.layers,
                     m.heads, m.kv_heads, m.head_dim, m.intermediate, m.vocab,
                     m.tied_embeddings ? " (tied)" : "");
}

}  // namespace

std::string to_text(const PlanResult& r) {
  const DeviceMemory& mem = r.memory;
  std::string out = model_line(r.model) + "\n";
  out +=
      fmt::format("layout: {}  ({} GPUs, seq {}, micro-batch {}, {}{})\n\n", describe(r.layout),
                  r.work.gpus, r.work.seq, r.work.batch, r.work.dtype_bytes == 2 ? "bf16" : "fp32",
                  r.work.inference ? ", inference" : ", training");
  out += "per device                    GiB\n";
  auto row = [&](const char* name, double b) {
    out += fmt::format("  {:<26}{:>9}\n", name, gib(b));
  };
  row("params", mem.params);
  row("grads", mem.grads);
  row("optimizer", mem.optimizer);
  row("activations", mem.activations);
  if (!r.work.inference) {
    out += fmt::format("    {:.3f} GiB/layer x {} layers + {} recompute set + {} LM head\n",
                       mem.activations_per_layer / kGiB, r.model.layers,
                       gib(mem.recompute_working_set), gib(mem.head_activations));
  }
  row("workspace", mem.workspace);
  row("comm_buffers", mem.comm_buffers);
  row("kv_cache", mem.kv_cache);
  row("total", mem.total());
  out += fmt::format("  {:<26}{:>9}  (GPU {} minus reserve {})\n", "usable", gib(r.usable_bytes),
                     gib(r.work.gpu_mem_bytes), gib(r.reserve_bytes));
  out += fmt::format("fits: {}\n", r.fits ? "yes" : "NO");
  if (r.max_context >= 0) out += fmt::format("max context: {} tokens\n", r.max_context);

  out += "\ncommunication per layer per step (one device)\n";
  out += fmt::format("  {:<20}{:>15}{:>7}{:>7}{:>12}{:>12}\n", "collective", "kind", "group",
                     "calls", "MiB", "ms");
  if (r.comm.empty()) out += "  (none)\n";
  for (const CommVolume& v : r.comm) {
    out +=
        fmt::format("  {:<20}{:>15}{:>7}{:>7}{:>12.2f}{:>12.3f}{}\n", v.name,
                    collective_name(v.kind), v.group_size, v.calls, v.bytes / double(1 << 20),
                    collective_seconds(v, r.hardware) * 1e3, v.overlapped ? "  (overlapped)" : "");
  }
  const StepTime& t = r.time;
  out += fmt::format(
      "\nstep time {:.3f} s = compute {:.3f} (attention {:.3f}) + exposed TP {:.3f} + CP {:.3f} + "
      "DP {:.3f};  {:.0f} tokens/s/GPU\n",
      t.total_s, t.compute_s, t.attention_s, t.tp_comm_s, t.cp_comm_s, t.dp_comm_s,
      t.tokens_per_s_per_gpu);
  out += fmt::format(
      "  (model: {:.0f} TFLOP/s achieved, {:.0f} GB/s in node, {:.0f} GB/s across "
      "nodes, {:.0f} us latency, {} GPUs/node)\n",
      r.hardware.tflops, r.hardware.intra_gbps, r.hardware.inter_gbps, r.hardware.latency_us,
      r.hardware.gpus_per_node);
  return out;
}

std::string search_to_text(const ModelConfig& m, const Workload& w, double usable_bytes,
                           const std::vector<Candidate>& ranked, size_t top,
                           bool with_max_context) {
  size_t feasible = 0;
  for (const Candidate& c : ranked) feasible += c.fits ? 1 : 0;
  std::string out = model_line(m) + "\n";
  out +=
      fmt::format("{} GPUs, seq {}, micro-batch {}, usable {} GiB/GPU: {} feasible layouts{}\n\n",
                  w.gpus, w.seq, w.batch, gib(usable_bytes), feasible,
                  with_max_context ? " (ranked by max context)" : " (ranked by time per sequence)");
  out += fmt::format("{:>4}  {:<42}{:>9}{:>10}{:>10}", "rank", "layout", "GiB", "step s", "s/seq");
  out += with_max_context ? fmt::format("{:>12}\n", "max ctx") : "\n";
  for (size_t i = 0; i < ranked.size() && i < top; ++i) {
    const Candidate& c = ranked[i];
    out += fmt::format("{:>4}  {:<42}{:>9}{:>10.3f}{:>10.3f}", i + 1, describe(c.layout),
                       gib(c.memory.total()), c.time.total_s, c.seconds_per_sequence());
    out += with_max_context ? fmt::format("{:>12}\n", c.max_context) : "\n";
  }
  if (ranked.size() > top) out += fmt::format("  ... {} more (--top)\n", ranked.size() - top);
  return out;
}

std::string crossover_to_text(const ModelConfig& m, const std::vector<Crossover>& xs) {
  std::string out = model_line(m) + "\n";
  out += "sequence split beats tensor split (per-device memory) beyond s* = W·B / R\n";
  out += fmt::format("  {:<10}{:>14}{:>12}{:>8}{:>12}{:>10}\n", "block", "W (weights)",
                     "R (B/token)", "B", "s*", "s*/h");
  for (const Crossover& x : xs) {
    out += fmt::format("  {:<10}{:>14.0f}{:>12.0f}{:>8.1f}{:>12.0f}{:>10.2f}\n",
                       x.block == Block::attention ? "attention" : "mlp", x.weights,
                       x.replicated_per_token, x.bytes_per_weight, x.seq, x.seq_over_hidden);
  }
  return out;
}

}  // namespace longctx::plan
