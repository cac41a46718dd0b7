// The passkey data's random numbers: splitmix64 with explicit mappings to ranges, so that a
// sample is the same for a given seed on every platform and C++ library (std:: distributions
// are implementation-defined).
#pragma once

#include <cstdint>

namespace longctx::train::detail {

class PasskeyRng {
 public:
  explicit PasskeyRng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) for n >= 1, without modulo bias (rejection of the short last bucket).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x = next();
    while (x >= limit) x = next();
    return x % n;
  }
  // Uniform in [0, 1) with 53 random bits.
  double unit() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// A seed for item `index` of a stream seeded with `seed` (rows of a batch, trials of a cell):
// two rounds of mixing so that neighbouring (seed, index) pairs give unrelated streams.
inline uint64_t derive_seed(uint64_t seed, uint64_t index) {
  PasskeyRng a(seed);
  PasskeyRng b(a.next() ^ (index * 0xD1B54A32D192ED03ull));
  return b.next();
}

}  // namespace longctx::train::detail
