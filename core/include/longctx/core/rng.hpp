// Seeded random numbers: reproducible fills for tests, benchmarks and the CLI.
#pragma once

#include <cstdint>
#include <random>

#include "longctx/core/tensor.hpp"

namespace longctx {

// A seed that differs per call and per process unless LONGCTX_SEED is set in the environment;
// tests print it so that a failure can be replayed.
uint64_t fresh_seed();

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  float uniform(float lo, float hi) {
    return std::uniform_real_distribution<float>(lo, hi)(engine_);
  }
  float normal(float mean = 0.f, float stddev = 1.f) {
    return std::normal_distribution<float>(mean, stddev)(engine_);
  }
  int64_t uniform_int(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// Fills every element of `t` (any strides) with N(0, stddev), rounded to its dtype.
void fill_normal(const TensorView& t, Rng& rng, float stddev = 1.f);
void fill_uniform(const TensorView& t, Rng& rng, float lo, float hi);

}  // namespace longctx
