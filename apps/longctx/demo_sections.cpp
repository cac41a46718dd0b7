// The list of demo sections and the shared row bookkeeping. Add new sections here.
#include "demo_sections.hpp"

#include <cstdio>

#include "report_format.hpp"

namespace longctx::app {

std::vector<DemoSection> demo_sections() {
  return {
      {"exact causal forward",
       "tiled FlashAttention-2 forward at growing lengths, checked against the float64 oracle",
       run_exact_forward_sweep},
      {"exact causal backward", "the training pass: dQ, dK, dV by blockwise recomputation",
       run_exact_backward_sweep},
      {"sliding window", "a causal 4096-token window at 64K tokens beside dense causal (same run)",
       run_sliding_window},
      {"DeepSeek sparse attention",
       "lightning indexer + top-2048 + sparse attention at 64K tokens beside dense causal",
       run_dsa},
      {"sequence parallel", "zigzag ring attention over mpirun -n 2: exact, and its efficiency",
       run_distributed},
#ifdef LONGCTX_HAS_MODEL
      {"model runtime",
       "Llama / Mistral / Qwen2 checkpoints vs transformers' logits; prefill and decode speed",
       run_model_runtime},
#endif
#ifdef LONGCTX_HAS_TRAIN
      {"passkey retrieval",
       "the shipped passkey model (trained by longctx train): dense, window, DSA, topk-exact",
       run_passkey},
#endif
  };
}

void DemoContext::add(DemoRow row) {
  if (!row.note.empty() && row.ms == 0.0) {
    std::fprintf(stderr, "[demo %6.1fs] %-22s N=%-6s %s\n", elapsed_s(), row.what.c_str(),
                 format_tokens(row.tokens).c_str(), row.note.c_str());
  } else {
    std::fprintf(
        stderr, "[demo %6.1fs] %-22s N=%-6s %9.1f ms %7.1f GFLOP/s  peak RSS %-10s err %s %s\n",
        elapsed_s(), row.what.c_str(), format_tokens(row.tokens).c_str(), row.ms,
        row.gflops.value_or(0.0), format_bytes(double(row.peak_rss_bytes)).c_str(),
        row.max_error ? format_error(*row.max_error).c_str() : "-", row.passed ? "ok" : "FAIL");
  }
  rows_.push_back(std::move(row));
}

}  // namespace longctx::app
