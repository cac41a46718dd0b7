// Model configurations without a checkpoint, for benchmarks, the demo and training from scratch.
#pragma once

#include "longctx/model/config.hpp"

namespace longctx::model {

// ~125M parameters (85M outside the embeddings): GPT-2-small widths (768 wide, 12 layers,
// 12 heads of 64) with Llama's blocks, GQA with 4 KV heads, SwiGLU 2048, a 32K vocabulary and
// Llama 3's RoPE theta.
ModelConfig llama_100m_config();

}  // namespace longctx::model
