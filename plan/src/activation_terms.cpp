// Per-token activation tables (GPT after Korthikanti et al.; LLaMA adaptation) and their sums.
#include "longctx/plan/activation_terms.hpp"

namespace longctx::plan {

std::vector<ActivationTerm> gpt_layer_terms(int64_t hidden, int64_t heads) {
  const double h = double(hidden), a = double(heads);
  // Korthikanti §4.1: attention 11sbh + 5as²b, MLP 19sbh, two LayerNorms 4sbh (16-bit values,
  // 1-byte dropout masks). The norm region (10sbh) is what TP without SP replicates.
  return {
      {"ln1 input", Block::attention, Region::norm, 2 * h, false, true},
      {"qkv input (ln1 output)", Block::attention, Region::norm, 2 * h},
      {"q, k", Block::attention, Region::tensor, 4 * h},
      {"v", Block::attention, Region::tensor, 2 * h},
      {"softmax output", Block::attention, Region::score, 2 * a},
      {"attention dropout mask", Block::attention, Region::score, 1 * a},
      {"attention dropout output", Block::attention, Region::score, 2 * a},
      {"output projection input", Block::attention, Region::tensor, 2 * h},
      {"attention residual dropout mask", Block::attention, Region::norm, 1 * h},
      {"ln2 input", Block::mlp, Region::norm, 2 * h},
      {"fc1 input (ln2 output)", Block::mlp, Region::norm, 2 * h},
      {"gelu input", Block::mlp, Region::tensor, 8 * h},
      {"fc2 input (gelu output)", Block::mlp, Region::tensor, 8 * h},
      {"mlp residual dropout mask", Block::mlp, Region::norm, 1 * h},
  };
}

std::vector<ActivationTerm> llama_layer_terms(const ModelConfig& m, int dtype_bytes) {
  const double e = dtype_bytes;
  const double h = double(m.hidden), q = double(m.q_width()), kv = double(m.kv_width());
  const double f = double(m.intermediate), a = double(m.heads);
  // RoPE needs only positions in backward; RMSNorm keeps its input (its fp32 1/rms per token is
  // 4 bytes, ignored). Without flash the softmax output is kept (its backward needs only the
  // output); with flash the kernel keeps O and the fp32 LSE instead and recomputes P.
  // The SwiGLU MLP is the fused form: gate and up outputs feed silu(gate)·up, which is
  // recomputed in backward, and the product is the down-projection input.
  return {
      {"rmsnorm1 input (residual)", Block::attention, Region::norm, e * h, false, true},
      {"qkv input (rmsnorm1 output)", Block::attention, Region::norm, e * h},
      {"q after rope", Block::attention, Region::query, e * q},
      {"k after rope", Block::attention, Region::key_value, e * kv},
      {"v", Block::attention, Region::key_value, e * kv},
      {"softmax output", Block::attention, Region::score, e * a},
      {"lse (flash, fp32)", Block::attention, Region::query, 4 * a, true},
      {"attention output (o_proj input)", Block::attention, Region::query, e * q},
      {"rmsnorm2 input (residual)", Block::mlp, Region::norm, e * h},
      {"gate/up input (rmsnorm2 output)", Block::mlp, Region::norm, e * h},
      {"gate output", Block::mlp, Region::tensor, e * f},
      {"up output", Block::mlp, Region::tensor, e * f},
      {"down input (silu(gate)·up)", Block::mlp, Region::tensor, e * f},
  };
}

namespace {

double term_bytes(const ActivationTerm& term, const ActivationSharding& sh) {
  switch (term.region) {
    case Region::norm:
      return sh.tokens * term.bytes_per_token / sh.norm_div;
    case Region::tensor:
      return sh.tokens * term.bytes_per_token / sh.tensor_div;
    case Region::query:
      return sh.tokens * term.bytes_per_token / sh.query_div;
    case Region::key_value:
      return sh.tokens * term.bytes_per_token / sh.kv_div;
    case Region::score:
      return sh.tokens * sh.keys * term.bytes_per_token / sh.query_div;
  }
  return 0;
}

bool kept(const ActivationTerm& term, Recompute recompute, bool flash) {
  if (recompute == Recompute::full) return term.layer_input;
  if (term.region == Region::score) return !flash && recompute == Recompute::none;
  if (term.flash_only) return flash;
  return true;
}

}  // namespace

double stored_layer_bytes(const std::vector<ActivationTerm>& terms, const ActivationSharding& sh,
                          Recompute recompute, bool flash, Block block) {
  double total = 0;
  for (const ActivationTerm& term : terms) {
    if (term.block == block && kept(term, recompute, flash)) total += term_bytes(term, sh);
  }
  return total;
}

double stored_layer_bytes(const std::vector<ActivationTerm>& terms, const ActivationSharding& sh,
                          Recompute recompute, bool flash) {
  return stored_layer_bytes(terms, sh, recompute, flash, Block::attention) +
         stored_layer_bytes(terms, sh, recompute, flash, Block::mlp);
}

double region_bytes_per_token(const std::vector<ActivationTerm>& terms, Block block,
                              Region region) {
  double total = 0;
  for (const ActivationTerm& term : terms) {
    if (term.block == block && term.region == region) total += term.bytes_per_token;
  }
  return total;
}

}  // namespace longctx::plan
