// The fresh models `longctx train` (and train_bench) build: a Llama over bytes (vocab 256, no
// BOS/EOS), of a given shape.
#pragma once

#include <cstdint>

#include "longctx/model/config.hpp"

namespace longctx::train {

struct ByteModelShape {
  int64_t hidden = 128, layers = 4, heads = 4, kv_heads = 2, head_dim = 32, intermediate = 384;
  int64_t max_position = 512;  // max_position_embeddings of the saved config
  double rope_theta = 10000.0;
  bool tie_embeddings = false;
};

// ArgumentError naming the CLI flag ("--hidden", "--kv-heads", "--head-dim", ...).
model::ModelConfig byte_model_config(const ByteModelShape& shape);

}  // namespace longctx::train
