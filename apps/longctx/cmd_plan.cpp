// `longctx plan`: per-device memory, communication per layer and predicted step time of a
// tensor / sequence / context-parallel layout; --search ranks every feasible layout,
// --max-context finds the longest trainable sequence, --crossover gives the TP-vs-SP threshold.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "cli_parse.hpp"
#include "commands.hpp"
#include "longctx/core/error.hpp"
#include "longctx/plan/report.hpp"

namespace longctx::app {
namespace {

struct PlanFlags {
  std::string model;
  int64_t seq = 0;
  int64_t batch = 1;
  int64_t gpus = 0;  // 0: tp·cp
  double gpu_mem_gib = 80;
  double reserve_gib = 2;
  int64_t tp = 1;
  bool sp = false;
  int64_t cp = 1;
  std::string cp_kind = "ring";
  int zero = 0;
  std::string recompute = "none";
  std::string dtype = "bf16";
  bool no_flash = false;
  bool inference = false;
  bool search = false;
  bool max_context = false;
  bool crossover = false;
  double bytes_per_weight = 0;  // 0: from the dtype's optimizer state without ZeRO
  bool json = false;
  bool show_infeasible = false;
  size_t top = 20;
  plan::Hardware hw;
};

void add_flags(CLI::App& app, PlanFlags& f) {
  app.add_option("--model", f.model, "built-in name (llama-2-7b, llama-3.1-8b, ...) or config.json")
      ->required();
  app.add_option("--seq", f.seq, "sequence length s (tokens)");
  app.add_option("--batch", f.batch, "micro-batch b per data-parallel rank");
  app.add_option("--gpus", f.gpus, "number of GPUs P = tp·cp·dp (default tp·cp)");
  app.add_option("--gpu-mem", f.gpu_mem_gib, "memory per GPU, GiB");
  app.add_option("--reserve", f.reserve_gib,
                 "GiB per GPU kept back for the CUDA context, NCCL and fragmentation");
  app.add_option("--tp", f.tp, "tensor-parallel degree t");
  app.add_flag("--sp", f.sp, "Megatron sequence parallelism inside the TP group");
  app.add_option("--cp", f.cp, "context-parallel degree c");
  app.add_option("--cp-kind", f.cp_kind, "ring | zigzag | striped | ulysses | allgather | usp:UxR");
  app.add_option("--zero", f.zero, "ZeRO stage 0..3 over the dp·cp ranks sharing weights");
  app.add_option("--recompute", f.recompute, "none | selective | full");
  app.add_option("--dtype", f.dtype, "bf16 | fp16 | fp32 (weights and activations)");
  app.add_flag("--no-flash", f.no_flash, "store the score matrix (no flash attention)");
  app.add_flag("--inference", f.inference, "prefill with a KV cache instead of training");
  app.add_flag("--search", f.search, "rank every feasible layout on --gpus by predicted time");
  app.add_flag("--max-context", f.max_context, "longest sequence the layout(s) can train");
  app.add_flag("--crossover", f.crossover,
               "sequence length beyond which splitting the sequence beats TP, per block");
  app.add_option("--bytes-per-weight", f.bytes_per_weight,
                 "weight-state bytes the sequence group replicates (--crossover; default 16)");
  app.add_flag("--json", f.json, "machine-readable output");
  app.add_option("--top", f.top, "layouts shown by --search");
  app.add_flag("--show-infeasible", f.show_infeasible,
               "--search also lists layouts that do not fit");
  app.add_option("--tflops", f.hw.tflops, "achieved TFLOP/s per GPU");
  app.add_option("--link-gbps", f.hw.intra_gbps, "GB/s per GPU per direction inside a node");
  app.add_option("--ib-gbps", f.hw.inter_gbps, "GB/s per GPU per direction across nodes");
  app.add_option("--latency-us", f.hw.latency_us, "latency per message hop, microseconds");
  app.add_option("--gpus-per-node", f.hw.gpus_per_node, "GPUs per node");
}

void check_hardware(const PlanFlags& f) {
  LONGCTX_CHECK_ARG(f.hw.tflops > 0, "--tflops", "a positive rate", f.hw.tflops);
  LONGCTX_CHECK_ARG(f.hw.intra_gbps > 0, "--link-gbps", "a positive bandwidth", f.hw.intra_gbps);
  LONGCTX_CHECK_ARG(f.hw.inter_gbps > 0, "--ib-gbps", "a positive bandwidth", f.hw.inter_gbps);
  LONGCTX_CHECK_ARG(f.hw.latency_us >= 0, "--latency-us", "a latency >= 0", f.hw.latency_us);
  LONGCTX_CHECK_ARG(f.hw.gpus_per_node >= 1, "--gpus-per-node", "at least 1", f.hw.gpus_per_node);
  LONGCTX_CHECK_ARG(f.reserve_gib >= 0 && f.reserve_gib < f.gpu_mem_gib, "--reserve",
                    "GiB >= 0 and below --gpu-mem", f.reserve_gib);
  LONGCTX_CHECK_ARG(f.top >= 1, "--top", "at least 1", f.top);
}

int run_crossover(const PlanFlags& f, const plan::ModelConfig& m, int dtype_bytes) {
  const plan::StateBytes sb = plan::state_bytes_per_param(dtype_bytes);
  const double b =
      f.bytes_per_weight > 0 ? f.bytes_per_weight : sb.params + sb.grads + sb.optimizer;
  LONGCTX_CHECK_ARG(f.bytes_per_weight >= 0, "--bytes-per-weight", "a positive byte count",
                    f.bytes_per_weight);
  const auto xs = plan::tp_vs_sp_crossover(m, dtype_bytes, b);
  const std::string out =
      f.json ? plan::crossover_to_json(m, xs).dump(2) + "\n" : plan::crossover_to_text(m, xs);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int cmd_plan(int argc, char** argv) {
  CLI::App app{"longctx plan: memory, communication and step time of TP / SP / CP layouts",
               "longctx plan"};
  PlanFlags f;
  add_flags(app, f);
  if (std::optional<int> rc = parse_command_line(app, "longctx plan", argc, argv)) return *rc;
  check_hardware(f);
  const plan::ModelConfig model = plan::resolve_model(f.model);
  plan::Workload w;
  w.dtype_bytes = plan::parse_dtype_bytes(f.dtype);
  if (f.crossover) return run_crossover(f, model, w.dtype_bytes);

  LONGCTX_CHECK_ARG(f.seq > 0 || f.max_context, "--seq", "a sequence length >= 1",
                    (app.count("--seq") ? std::to_string(f.seq) : std::string("nothing")));
  LONGCTX_CHECK_ARG(f.gpu_mem_gib > 0, "--gpu-mem", "a positive size in GiB", f.gpu_mem_gib);
  LONGCTX_CHECK_ARG(f.tp >= 1, "--tp", "a tensor-parallel degree >= 1", f.tp);
  LONGCTX_CHECK_ARG(f.cp >= 1, "--cp", "a context-parallel degree >= 1", f.cp);
  LONGCTX_CHECK_ARG(!f.search || f.gpus >= 1, "--gpus", "the number of GPUs to search over",
                    (app.count("--gpus") ? std::to_string(f.gpus) : std::string("nothing")));
  w.batch = f.batch;
  w.gpus = f.gpus > 0 ? f.gpus : f.tp * f.cp;
  w.gpu_mem_bytes = f.gpu_mem_gib * double(1ull << 30);
  w.inference = f.inference;
  const double reserve = f.reserve_gib * double(1ull << 30);
  const double usable = w.gpu_mem_bytes - reserve;
  // Without --seq, --max-context still needs a valid length to check the layout with: 2·P is a
  // multiple of every layout's granularity.
  w.seq = f.seq > 0 ? f.seq : 2 * w.gpus;

  if (f.search) {
    plan::SearchOptions options;
    options.flash = !f.no_flash;
    options.with_max_context = f.max_context;
    options.include_infeasible = f.show_infeasible;
    const auto ranked = plan::search_layouts(model, w, f.hw, usable, options);
    const std::string out =
        f.json ? plan::search_to_json(model, w, f.hw, usable, ranked, f.top).dump(2) + "\n"
               : plan::search_to_text(model, w, usable, ranked, f.top, f.max_context);
    std::fputs(out.c_str(), stdout);
    return 0;
  }

  plan::Layout layout;
  layout.tp = f.tp;
  layout.sequence_parallel = f.sp;
  layout.zero = f.zero;
  layout.recompute = plan::parse_recompute(f.recompute);
  layout.flash = !f.no_flash;
  plan::parse_cp_kind(f.cp_kind, f.cp, layout);
  const plan::PlanResult r = plan::plan_layout(model, layout, w, f.hw, reserve, f.max_context);
  const std::string out = f.json ? plan::to_json(r).dump(2) + "\n" : plan::to_text(r);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace longctx::app
