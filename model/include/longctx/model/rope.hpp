// Rotary position embedding with Hugging Face's scalings (SPEC §6; transformers
// modeling_rope_utils): default, linear, dynamic (NTK), yarn, llama3, longrope. Rotation in the
// rotate_half convention of Llama: dims (i, i + D/2) form the pair rotated by angle
// position · inv_freq[i], and cos/sin carry the attention scaling (yarn, longrope).
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/model/config.hpp"

namespace longctx::model {

struct RopeFrequencies {
  std::vector<float> inv_freq;     // [head_dim / 2], float32 as HF keeps them
  double attention_scaling = 1.0;  // multiplies cos and sin
};

// The frequencies HF uses for a forward pass over `seq_len` tokens (positions 0..seq_len−1).
// Only dynamic (NTK: recomputed when seq_len exceeds max_position_embeddings) and longrope
// (long factors when seq_len exceeds original_max_position_embeddings) depend on seq_len.
RopeFrequencies rope_frequencies(const RopeConfig& rope, int64_t head_dim,
                                 int64_t max_position_embeddings, int64_t seq_len);

// cos/sin of every position up to a bound, grown on demand, so each layer and each decode step
// rotates with table lookups instead of sincos.
class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(RopeFrequencies frequencies, int64_t head_dim);

  const RopeFrequencies& frequencies() const { return frequencies_; }
  int64_t head_dim() const { return head_dim_; }
  // Makes the table cover positions [0, count). Not thread-safe; call before parallel apply().
  void reserve(int64_t count);
  // Rotates x in place: x [tokens, heads, head_dim] with rows `token_stride` floats apart
  // (heads contiguous inside a token), token t at position positions[t] (< reserved count).
  // transpose: multiplies by the transposed rotation instead (the angle negated, the attention
  // scaling kept) — the backward of apply(), which maps gradients of rotated rows back.
  void apply(float* x, int64_t tokens, int64_t heads, int64_t token_stride,
             const int64_t* positions, bool transpose = false) const;

 private:
  RopeFrequencies frequencies_;
  int64_t head_dim_ = 0;
  std::vector<float> cos_, sin_;  // [positions, head_dim / 2], scaled by attention_scaling
};

}  // namespace longctx::model
