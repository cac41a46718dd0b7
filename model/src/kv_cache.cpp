// Contiguous and rolling-buffer KV caches (see kv_cache.hpp).
#include "longctx/model/kv_cache.hpp"

#include <algorithm>
#include <cstring>

#include "longctx/core/error.hpp"

namespace longctx::model {

LayerKvCache::LayerKvCache(int64_t kv_heads, int64_t head_dim, int64_t rolling_window)
    : kv_heads_(kv_heads), head_dim_(head_dim), window_(rolling_window) {
  LONGCTX_CHECK_ARG(kv_heads > 0 && head_dim > 0, "kv cache", "positive kv heads and head dim",
                    kv_heads << " x " << head_dim);
  LONGCTX_CHECK_ARG(rolling_window >= 0, "rolling_window", ">= 0", rolling_window);
}

void LayerKvCache::reserve(int64_t tokens) {
  if (rolling()) {
    // Up to W slots, allocated as tokens arrive: while fewer than W tokens were seen no slot has
    // wrapped (slot = position), so growing keeps every slot where it is.
    const int64_t target = std::min(window_, tokens);
    if (target <= slots()) return;
    k_.resize(size_t(target * row_floats()));
    v_.resize(size_t(target * row_floats()));
    positions_.resize(size_t(target), kEmptySlot);
    return;
  }
  if (tokens <= slots()) return;
  // Grow geometrically so that decoding past a reservation stays amortised O(1) per token.
  const int64_t slots_new = std::max(tokens, slots() + slots() / 2);
  k_.resize(size_t(slots_new * row_floats()));
  v_.resize(size_t(slots_new * row_floats()));
  const int64_t old = slots();
  positions_.resize(size_t(slots_new));
  for (int64_t i = old; i < slots_new; ++i) positions_[size_t(i)] = i;
}

void LayerKvCache::clear() {
  length_ = 0;
  if (rolling()) std::fill(positions_.begin(), positions_.end(), kEmptySlot);
}

void LayerKvCache::append(const float* k_rows, const float* v_rows, int64_t count) {
  const int64_t row = row_floats();
  if (!rolling()) {
    reserve(length_ + count);
    std::memcpy(k_.data() + length_ * row, k_rows, size_t(count * row) * sizeof(float));
    std::memcpy(v_.data() + length_ * row, v_rows, size_t(count * row) * sizeof(float));
    length_ += count;
    return;
  }
  reserve(length_ + count);
  // Only the last W tokens survive; earlier ones would be overwritten within this call.
  const int64_t first = std::max<int64_t>(0, count - window_);
  for (int64_t t = first; t < count; ++t) {
    const int64_t pos = length_ + t, slot = pos % window_;
    std::memcpy(k_.data() + slot * row, k_rows + t * row, size_t(row) * sizeof(float));
    std::memcpy(v_.data() + slot * row, v_rows + t * row, size_t(row) * sizeof(float));
    positions_[size_t(slot)] = pos;
  }
  length_ += count;
}

int64_t LayerKvCache::bytes() const {
  return int64_t((k_.capacity() + v_.capacity()) * sizeof(float) +
                 positions_.capacity() * sizeof(int64_t));
}

}  // namespace longctx::model
