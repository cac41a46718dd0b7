// Seeds and random fills.
#include "longctx/core/rng.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>

namespace longctx {

uint64_t fresh_seed() {
  if (const char* env = std::getenv("LONGCTX_SEED")) return std::strtoull(env, nullptr, 10);
  static std::atomic<uint64_t> counter{0};
  uint64_t t = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t x = t ^ (uint64_t(::getpid()) << 32) ^ (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull);
  // splitmix64 finaliser so that nearby times give unrelated seeds
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

namespace {
template <typename Gen>
void fill(const TensorView& t, Gen&& gen) {
  std::array<int64_t, kMaxRank> idx{};
  int64_t total = t.numel();
  for (int64_t n = 0; n < total; ++n) {
    int64_t off = 0;
    for (int d = 0; d < t.rank; ++d) off += idx[size_t(d)] * t.strides[size_t(d)];
    store_from_f32(t.data, t.dtype, off, gen());
    for (int d = t.rank - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < t.shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
}
}  // namespace

void fill_normal(const TensorView& t, Rng& rng, float stddev) {
  fill(t, [&] { return rng.normal(0.f, stddev); });
}

void fill_uniform(const TensorView& t, Rng& rng, float lo, float hi) {
  fill(t, [&] { return rng.uniform(lo, hi); });
}

}  // namespace longctx
