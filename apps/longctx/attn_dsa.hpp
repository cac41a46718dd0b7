// `longctx attn --mask dsa`: DeepSeek Sparse Attention on the CPU (lightning indexer, top-k,
// sparse attention over the selected keys), timed per stage, with --check against the float64
// oracle restricted to the same selected keys, --backward, --json and --quantized (int8
// indexer, reporting its top-k recall against the float32 indexer).
//   --topk K (2048)  --indexer-heads H_I (8)  --indexer-dim d_I (64)  --indexer-groups S (1 or G)
// The indexer weights are random (seeded by --seed).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "attn_case.hpp"

namespace longctx::app {

struct DsaFlags {
  int64_t top_k = 2048;
  int64_t indexer_heads = 8;
  int64_t indexer_dim = 64;
  int64_t indexer_groups = 1;
  bool quantized = false;
};

// The generic `longctx attn` flags the DSA run honours.
struct DsaRunFlags {
  int repeat = 3, warmup = 1;
  bool backward = false, check = false, json = false;
  int64_t check_rows = 64;
};

void add_dsa_flags(CLI::App& app, DsaFlags& flags);

// With --mask dsa: runs DSA and returns the exit code. Otherwise returns nullopt, after checking
// that no DSA flag was given (ArgumentError naming the flag).
std::optional<int> maybe_run_dsa(const CLI::App& app, const std::string& mask,
                                 const AttnConfig& config, const DsaRunFlags& run,
                                 const DsaFlags& flags);

}  // namespace longctx::app
