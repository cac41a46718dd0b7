// Fresh byte-level Llama configurations (see byte_model.hpp).
#include "longctx/train/byte_model.hpp"

#include "longctx/core/error.hpp"

namespace longctx::train {

model::ModelConfig byte_model_config(const ByteModelShape& f) {
  LONGCTX_CHECK_ARG(f.hidden >= 8, "--hidden", ">= 8", f.hidden);
  LONGCTX_CHECK_ARG(f.layers >= 1, "--layers", ">= 1", f.layers);
  LONGCTX_CHECK_ARG(f.heads >= 1 && f.kv_heads >= 1 && f.heads % f.kv_heads == 0, "--kv-heads",
                    "a divisor of --heads = " << f.heads, f.kv_heads);
  LONGCTX_CHECK_ARG(f.head_dim % 8 == 0 && f.head_dim >= 32 && f.head_dim <= 256, "--head-dim",
                    "a multiple of 8 in [32, 256]", f.head_dim);
  LONGCTX_CHECK_ARG(f.intermediate >= 1, "--intermediate", ">= 1", f.intermediate);
  LONGCTX_CHECK_ARG(f.max_position >= 2, "--max-position", ">= 2", f.max_position);
  model::ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 256;  // token = byte
  c.hidden_size = f.hidden;
  c.intermediate_size = f.intermediate;
  c.num_layers = f.layers;
  c.num_heads = f.heads;
  c.num_kv_heads = f.kv_heads;
  c.head_dim = f.head_dim;
  c.max_position_embeddings = f.max_position;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = f.rope_theta;
  c.tie_word_embeddings = f.tie_embeddings;
  c.sliding_window.assign(size_t(f.layers), 0);
  return c;
}

}  // namespace longctx::train
