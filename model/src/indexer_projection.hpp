// The trained DSA indexer's inputs from a layer's normalised hidden rows (weights.hpp,
// IndexerWeights): q_I = RoPE(x · wqᵀ), k_I = RoPE(x · wkᵀ), w = x · weightsᵀ / sqrt(H_I).
// Shared by the runtime (decoding and prefill) and training so both compute the same scores.
// Internal to model/ (train/ includes it).
#pragma once

#include <cstdint>

#include "longctx/model/rope.hpp"
#include "longctx/model/weights.hpp"

namespace longctx::model {

// x [rows, hidden] at positions[rows] → q [rows, H_I, d_I], k [rows, d_I], w [rows, H_I].
void indexer_projection(const float* x, int64_t rows, const IndexerWeights& indexer,
                        const RotaryEmbedding& rope, const int64_t* positions, float* q, float* k,
                        float* w);

// The scale applied to w (1/sqrt(H_I)); the backward multiplies ∂/∂w by it.
float indexer_weight_scale(const IndexerWeights& indexer);

}  // namespace longctx::model
