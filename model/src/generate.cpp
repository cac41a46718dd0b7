// Prefill + decode loop and token sampling (see generate.hpp).
#include "longctx/model/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// splitmix64: a small, seedable generator whose stream does not depend on the C++ library.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

TokenSampler::TokenSampler(SamplingOptions options) : options_(options), state_(options.seed) {
  LONGCTX_CHECK_ARG(options.temperature >= 0.0, "--temperature", ">= 0", options.temperature);
  LONGCTX_CHECK_ARG(options.top_p > 0.0 && options.top_p <= 1.0, "--top-p", "in (0, 1]",
                    options.top_p);
}

int32_t TokenSampler::sample(std::span<const float> logits) {
  const int64_t V = int64_t(logits.size());
  LONGCTX_CHECK_ARG(V > 0, "logits", "a non-empty row", V);
  if (options_.temperature == 0.0)
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Softmax at the temperature, then the nucleus: most probable first until top_p is reached.
  const float peak = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(static_cast<size_t>(V));
  double sum = 0.0;
  for (int64_t i = 0; i < V; ++i)
    sum += p[size_t(i)] = std::exp((double(logits[size_t(i)]) - peak) / options_.temperature);
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return p[size_t(a)] != p[size_t(b)] ? p[size_t(a)] > p[size_t(b)] : a < b;
  });
  size_t kept = 0;
  double mass = 0.0;
  while (kept < order.size() && (kept == 0 || mass < options_.top_p * sum))
    mass += p[size_t(order[kept++])];
  const double u = double(next_random(state_) >> 11) * 0x1.0p-53 * mass;
  double acc = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    acc += p[size_t(order[i])];
    if (u < acc) return order[i];
  }
  return order[kept - 1];
}

double GenerationResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0.0;
}

double GenerationResult::decode_tokens_per_second() const {
  // The first new token comes from the prefill's logits; each later one costs one decode step.
  const double steps = tokens.empty() ? 0.0 : double(tokens.size() - 1);
  return decode_seconds > 0 ? steps / decode_seconds : 0.0;
}

GenerationResult generate(Decoder& decoder, std::span<const int32_t> prompt,
                          const GenerationOptions& options,
                          const std::function<void(int32_t)>& on_token) {
  LONGCTX_CHECK_ARG(!prompt.empty(), "prompt", "at least one token", 0);
  LONGCTX_CHECK_ARG(options.max_new_tokens >= 0, "--max-new-tokens", ">= 0",
                    options.max_new_tokens);
  const int64_t V = decoder.config().vocab_size;
  GenerationResult r;
  r.prompt_tokens = int64_t(prompt.size());
  decoder.reset(r.prompt_tokens + options.max_new_tokens);
  TokenSampler sampler(options.sampling);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = decoder.forward(prompt, options.keep_prompt_logits);
  r.prefill_seconds = seconds_since(t0);
  if (options.keep_prompt_logits) {  // keep [T, V]; sampling needs only the last row
    r.prompt_logits = std::move(logits);
    logits.assign(r.prompt_logits.end() - V, r.prompt_logits.end());
  }
  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    if (i > 0) {
      const int32_t previous = r.tokens.back();
      logits = decoder.forward(std::span<const int32_t>(&previous, 1), false);
    }
    const int32_t token = sampler.sample(logits);
    r.tokens.push_back(token);
    if (on_token) on_token(token);
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), token) !=
        options.stop_tokens.end())
      break;
  }
  r.decode_seconds = seconds_since(t0);
  r.last_logits = std::move(logits);
  return r;
}

}  // namespace longctx::model
