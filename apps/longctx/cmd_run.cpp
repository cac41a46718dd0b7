// `longctx run`: load a Hugging Face LLaMA-family checkpoint, tokenize a prompt (or take token
// ids), prefill it in chunks and generate, printing the text on stdout and prefill / decode
// speed, KV-cache memory and the attention schedule on stderr. --logits writes the prompt's
// logits as float32 little-endian [T, vocab] for comparisons with other runtimes.
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_parse.hpp"
#include "commands.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/generate.hpp"
#include "longctx/model/logits_file.hpp"
#include "longctx/model/rope_override.hpp"
#include "longctx/model/tokenizer.hpp"
#include "model_flags.hpp"

namespace longctx::app {
namespace {

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LONGCTX_CHECK_ARG(used == item.size() && !item.empty() && v >= 0 && v <= INT32_MAX, "--tokens",
                      "comma-separated non-negative token ids", "'" << item << "'");
    ids.push_back(int32_t(v));
  }
  LONGCTX_CHECK_ARG(!ids.empty(), "--tokens", "at least one token id", "''");
  return ids;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  CLI::App app{"Run a LLaMA-family decoder (Llama, Mistral, Qwen2) from a Hugging Face checkpoint"};
  std::string model_dir, prompt, token_list, schedule_text = "config", rope_scaling, logits_file;
  int64_t max_new = 32, chunk = 1024;
  int threads = 0;
  bool no_special = false, json = false;
  model::SamplingOptions sampling;
  app.add_option("--model", model_dir,
                 "checkpoint directory: config.json + *.safetensors (+ tokenizer)")
      ->required();
  auto* prompt_opt =
      app.add_option("--prompt", prompt, "prompt text (tokenized with the model's tokenizer)");
  auto* tokens_opt = app.add_option("--tokens", token_list, "prompt as token ids: 1,2,3");
  prompt_opt->excludes(tokens_opt);
  app.add_option("--max-new-tokens", max_new, "tokens to generate")->check(CLI::NonNegativeNumber);
  app.add_option("--attention", schedule_text, kAttentionFlagHelp);
  app.add_option("--rope-scaling", rope_scaling, kRopeScalingFlagHelp);
  app.add_option("--logits", logits_file, "write the prompt's logits, float32 LE [T, vocab]");
  app.add_option("--temperature", sampling.temperature, "0: greedy")->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", sampling.top_p, "nucleus sampling mass in (0, 1]");
  app.add_option("--seed", sampling.seed, "sampling seed");
  app.add_option("--threads", threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  app.add_option("--prefill-chunk", chunk, "prompt tokens per prefill chunk")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-special-tokens", no_special, "do not add BOS / template tokens to --prompt");
  app.add_flag("--json", json, "print a JSON summary instead of the text");
  if (auto code = parse_command_line(app, "longctx run", argc, argv)) return *code;
  LONGCTX_CHECK_ARG(!prompt.empty() || !token_list.empty(), "--prompt/--tokens",
                    "one of --prompt TEXT or --tokens 1,2,3", "neither");
  if (threads > 0) omp_set_num_threads(threads);
  LONGCTX_CHECK_ARG(
      std::filesystem::is_regular_file(std::filesystem::path(model_dir) / "config.json"), "--model",
      "a Hugging Face checkpoint directory holding config.json", "'" << model_dir << "'");

  model::ModelConfig config = model::load_model_config(model_dir);
  if (!rope_scaling.empty()) model::apply_rope_scaling_override(config, rope_scaling);
  const model::Checkpoint checkpoint = model::Checkpoint::open(model_dir);
  const model::DecoderWeights weights = model::load_decoder_weights(checkpoint, config);
  const std::unique_ptr<model::Tokenizer> tokenizer = model::load_tokenizer(model_dir);
  const std::vector<int32_t> ids =
      token_list.empty() ? tokenizer->encode(prompt, !no_special) : parse_token_list(token_list);
  LONGCTX_CHECK_ARG(!ids.empty(), "--prompt", "text that tokenizes to at least one token", "''");

  if (int64_t(ids.size()) + max_new > config.max_position_embeddings)
    std::fprintf(stderr,
                 "longctx run: note: %lld tokens exceed max_position_embeddings = %lld (the "
                 "trained context unless RoPE scaling extends it; see --rope-scaling)\n",
                 static_cast<long long>(int64_t(ids.size()) + max_new),
                 static_cast<long long>(config.max_position_embeddings));
  model::DecoderOptions options;
  options.threads = threads;
  options.prefill_chunk = chunk;
  model::Decoder decoder(config, weights, model::parse_attention_schedule(schedule_text, config),
                         options);
  model::GenerationOptions gen;
  gen.max_new_tokens = max_new;
  gen.sampling = sampling;
  gen.stop_tokens = config.eos_token_ids;
  gen.keep_prompt_logits = !logits_file.empty();
  // Text streams to stdout as tokens arrive. A byte-level token can end inside a UTF-8
  // character, which decodes to U+FFFD until its last byte comes: hold such a tail back.
  std::vector<int32_t> generated;
  std::string printed;
  const auto stream = [&](int32_t token) {
    generated.push_back(token);
    const std::string text = tokenizer->decode(generated, /*skip_special_tokens=*/true);
    const bool incomplete =
        text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
    if (incomplete || text.compare(0, printed.size(), printed) != 0) return;
    std::fwrite(text.data() + printed.size(), 1, text.size() - printed.size(), stdout);
    std::fflush(stdout);
    printed = text;
  };
  const model::GenerationResult r =
      json ? model::generate(decoder, ids, gen) : model::generate(decoder, ids, gen, stream);
  if (!logits_file.empty()) model::write_logits_f32(logits_file, r.prompt_logits);
  const std::string text = tokenizer->decode(r.tokens, /*skip_special_tokens=*/true);

  const double kv_mib = double(decoder.kv_cache_bytes()) / (1 << 20);
  if (json) {
    nlohmann::json out = {{"prompt_tokens", r.prompt_tokens},
                          {"new_tokens", r.tokens},
                          {"text", text},
                          {"prefill_seconds", r.prefill_seconds},
                          {"prefill_tokens_per_second", r.prefill_tokens_per_second()},
                          {"decode_seconds", r.decode_seconds},
                          {"decode_tokens_per_second", r.decode_tokens_per_second()},
                          {"kv_cache_bytes", decoder.kv_cache_bytes()},
                          {"attention", decoder.schedule().describe()},
                          {"tokenizer", tokenizer->describe()}};
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  // Whatever streaming held back (a tail that never completed, or text a later token rewrote).
  if (text.compare(0, printed.size(), printed) == 0)
    std::fwrite(text.data() + printed.size(), 1, text.size() - printed.size(), stdout);
  else
    std::printf("\n%s", text.c_str());
  std::printf("\n");
  std::fprintf(stderr,
               "longctx run: %lld prompt tokens, prefill %.3f s (%.1f tok/s); %zu new tokens, "
               "decode %.3f s (%.1f tok/s); KV cache %.2f MiB; attention %s; tokenizer %s\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_seconds,
               r.prefill_tokens_per_second(), r.tokens.size(), r.decode_seconds,
               r.decode_tokens_per_second(), kv_mib, decoder.schedule().describe().c_str(),
               tokenizer->describe().c_str());
  return 0;
}

}  // namespace longctx::app
