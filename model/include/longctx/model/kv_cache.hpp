// The KV cache of one decoder layer: rotated keys and values of every token seen so far
// (contiguous), or of the last W tokens only (rolling buffer for windowed layers: token at
// position p lives in slot p mod W, SPEC §6), with the position each slot holds.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace longctx::model {

class LayerKvCache {
 public:
  // Position of a slot that holds no token yet: beyond any query, so causal masking hides it.
  static constexpr int64_t kEmptySlot = std::numeric_limits<int64_t>::max() / 4;

  LayerKvCache() = default;
  // rolling_window > 0: a rolling buffer of that many slots; 0: contiguous.
  LayerKvCache(int64_t kv_heads, int64_t head_dim, int64_t rolling_window);

  bool rolling() const { return window_ > 0; }
  int64_t slots() const { return int64_t(positions_.size()); }  // allocated slots
  int64_t length() const { return length_; }                    // tokens appended so far
  int64_t row_floats() const { return kv_heads_ * head_dim_; }
  // Allocates room for `tokens` tokens (grows, never shrinks); a rolling buffer never holds more
  // than its W slots.
  void reserve(int64_t tokens);
  void clear();

  // Appends `count` tokens at positions [length, length + count): k_rows, v_rows [count, G, D].
  // A rolling buffer keeps only the last W of them.
  void append(const float* k_rows, const float* v_rows, int64_t count);

  // Contiguous: keys/values of positions [0, length) as [length, G, D]; rolling: the slots (W
  // once W tokens were seen), each holding the token at slot_positions()[slot].
  const float* keys() const { return k_.data(); }
  const float* values() const { return v_.data(); }
  const int64_t* slot_positions() const { return positions_.data(); }  // [slots]
  int64_t bytes() const;  // memory held by keys, values and positions

 private:
  int64_t kv_heads_ = 0, head_dim_ = 0, window_ = 0, length_ = 0;
  std::vector<float> k_, v_;        // [slots, G, D]
  std::vector<int64_t> positions_;  // [slots]
};

}  // namespace longctx::model
