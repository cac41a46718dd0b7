// The passkey evaluator's production path: greedy decoding with the model runtime's Decoder,
// stopping as soon as the key is out (the rest of the budget cannot change the score) or the
// model ends its text.
#include <algorithm>

#include "longctx/model/generate.hpp"
#include "longctx/train/passkey_eval.hpp"

namespace longctx::train {

PasskeyGenerateFn greedy_passkey_generator(model::Decoder& decoder,
                                           const model::Tokenizer& tokenizer,
                                           std::vector<int32_t> stop_tokens) {
  return [&decoder, &tokenizer, stop = std::move(stop_tokens)](const PasskeySample& sample,
                                                               int64_t max_new_tokens) {
    const auto prompt_len = int64_t(sample.prompt_tokens.size());
    decoder.reset(prompt_len + max_new_tokens);
    model::TokenSampler greedy(model::SamplingOptions{});  // temperature 0: argmax
    std::vector<int32_t> generated;
    std::string text;
    std::vector<float> logits = decoder.forward(sample.prompt_tokens, false);  // [1, V]
    for (int64_t i = 0; i < max_new_tokens; ++i) {
      const int32_t token = greedy.sample(logits);
      if (std::find(stop.begin(), stop.end(), token) != stop.end()) break;
      generated.push_back(token);
      text = tokenizer.decode(generated, /*skip_special_tokens=*/true);
      if (passkey_found(text, sample.key) || i + 1 == max_new_tokens) break;
      logits = decoder.forward(std::span<const int32_t>(&token, 1), false);  // [1, V]
    }
    return text;
  };
}

PasskeyEvalResult evaluate_passkey_model(const model::ModelConfig& config,
                                         const model::DecoderWeights& weights,
                                         const model::AttentionSchedule& schedule,
                                         const model::Tokenizer& tokenizer,
                                         const PasskeyEvalOptions& options,
                                         const model::DecoderOptions& decoder_options,
                                         const PasskeyProgressFn& progress) {
  model::Decoder decoder(config, weights, schedule, decoder_options);
  return evaluate_passkey(options, tokenizer,
                          greedy_passkey_generator(decoder, tokenizer, config.eos_token_ids),
                          progress);
}

}  // namespace longctx::train
