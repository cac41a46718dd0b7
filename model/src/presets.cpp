// Checkpoint-free model configurations (see presets.hpp).
#include "longctx/model/presets.hpp"

namespace longctx::model {

ModelConfig llama_100m_config() {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_layers = 12;
  c.num_heads = 12;
  c.num_kv_heads = 4;
  c.head_dim = 64;
  c.max_position_embeddings = 1 << 20;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 500000.0;
  c.sliding_window.assign(size_t(c.num_layers), 0);
  return c;
}

}  // namespace longctx::model
