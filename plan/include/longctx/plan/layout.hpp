// A parallel layout (how P devices split one training or inference step) and the workload it
// runs. Group order on the devices, innermost first: tensor parallel (t), context parallel (c,
// Ulysses-inner for usp), data parallel (dp); P = t·c·dp.
#pragma once

#include <cstdint>
#include <string>

#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

enum class CpKind { ring, zigzag, striped, ulysses, allgather, usp };
enum class Recompute { none, selective, full };

struct Layout {
  int64_t tp = 1;                  // t: tensor parallel degree
  bool sequence_parallel = false;  // Megatron SP: norm regions sharded over the TP group
  int64_t cp = 1;                  // c: context parallel degree
  CpKind cp_kind = CpKind::ring;
  int64_t ulysses = 1;  // U: all-to-all degree (ulysses: c, usp: U, else 1)
  int64_t ring = 1;     // R: ring degree (ring kinds: c, usp: R, ulysses/allgather: 1)
  int64_t dp = 1;       // data parallel degree
  int zero = 0;         // ZeRO stage 0..3 over the dp·c ranks that share weights
  Recompute recompute = Recompute::none;
  bool flash = true;  // flash attention: no stored score matrix
};

struct Workload {
  int64_t seq = 0;    // s: tokens per sequence
  int64_t batch = 1;  // b: micro-batch per data-parallel rank
  int64_t gpus = 0;   // P
  double gpu_mem_bytes = 80.0 * (1ull << 30);
  int dtype_bytes = 2;     // activations and weights: 2 for bf16/fp16, 4 for fp32
  bool inference = false;  // KV cache instead of gradients, optimizer state, stored activations
};

// "ring", "zigzag", "striped", "ulysses", "allgather" or "usp:UxR"; fills cp_kind, ulysses, ring
// for a CP degree of `cp`. Throws ArgumentError("--cp-kind", ...) on a bad spelling or U·R != c.
void parse_cp_kind(const std::string& text, int64_t cp, Layout& layout);
std::string cp_kind_name(const Layout& layout);  // inverse of parse_cp_kind ("usp:2x4")

Recompute parse_recompute(const std::string& text);  // throws ArgumentError("--recompute", ...)
const char* recompute_name(Recompute r);

// dtype name -> bytes per element: bf16, fp16 -> 2, fp32 -> 4. Throws ArgumentError("--dtype").
int parse_dtype_bytes(const std::string& text);

// Sets layout.dp = P / (t·c) and checks everything the model and the layout need: t | heads,
// KV heads shardable over t, U | heads/t, sequence divisible by the CP split, P = t·c·dp, ZeRO
// stage, positive sizes. Throws ArgumentError naming the flag and the expected value.
void validate(const ModelConfig& model, Layout& layout, const Workload& work);

// Smallest sequence-length step this layout accepts (c, 2c for zigzag, ...).
int64_t sequence_granularity(const Layout& layout);

std::string describe(const Layout& layout);  // e.g. "tp2+sp cp4 zigzag dp1 zero3 full"

}  // namespace longctx::plan
