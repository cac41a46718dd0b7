// Text generation with a Decoder: chunked prefill of the prompt, then one token at a time with
// greedy or temperature / top-p (nucleus) sampling, timing prefill and decode separately.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "longctx/model/decoder.hpp"

namespace longctx::model {

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // keep the smallest set of tokens whose probability reaches top_p
  uint64_t seed = 0;
};

class TokenSampler {
 public:
  explicit TokenSampler(SamplingOptions options);
  // logits [V] → a token id.
  int32_t sample(std::span<const float> logits);

 private:
  SamplingOptions options_;
  uint64_t state_;
};

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  SamplingOptions sampling;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these
  bool keep_prompt_logits = false;   // fill GenerationResult::prompt_logits [T, V]
};

struct GenerationResult {
  std::vector<int32_t> tokens;       // the new tokens
  std::vector<float> prompt_logits;  // [T, V] when asked for
  std::vector<float> last_logits;    // [V] that chose the last new token (or ends the prompt)
  double prefill_seconds = 0.0, decode_seconds = 0.0;
  int64_t prompt_tokens = 0;
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

// Resets the decoder, runs the prompt, then decodes. on_token (optional) sees each new token as
// it is produced (streaming output).
GenerationResult generate(Decoder& decoder, std::span<const int32_t> prompt,
                          const GenerationOptions& options,
                          const std::function<void(int32_t)>& on_token = {});

}  // namespace longctx::model
