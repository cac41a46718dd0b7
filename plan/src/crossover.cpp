// The TP-vs-SP memory crossover per block (see crossover.hpp for the derivation).
#include "longctx/plan/crossover.hpp"

namespace longctx::plan {

std::vector<Crossover> tp_vs_sp_crossover(const ModelConfig& m, int dtype_bytes,
                                          double bytes_per_weight) {
  const ParamCounts pc = count_params(m);
  const std::vector<ActivationTerm> terms = llama_layer_terms(m, dtype_bytes);
  std::vector<Crossover> out;
  for (Block block : {Block::attention, Block::mlp}) {
    Crossover x;
    x.block = block;
    x.weights = double(block == Block::attention ? pc.attention_per_layer : pc.mlp_per_layer) +
                double(m.hidden);  // the block's RMSNorm
    x.replicated_per_token = region_bytes_per_token(terms, block, Region::norm);
    x.bytes_per_weight = bytes_per_weight;
    x.seq = x.weights * bytes_per_weight / x.replicated_per_token;
    x.seq_over_hidden = x.seq / double(m.hidden);
    out.push_back(x);
  }
  return out;
}

}  // namespace longctx::plan
