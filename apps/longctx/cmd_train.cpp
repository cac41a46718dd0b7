// `longctx train`: train a LLaMA-style decoder (fresh, or fine-tune a checkpoint) on the
// synthetic passkey data of SPEC §7 with any attention schedule of the runtime; progress on
// stderr, the loss log, checkpoints and the command line under --out; --resume continues a run.
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_parse.hpp"
#include "commands.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/rope_override.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/train/byte_model.hpp"
#include "longctx/train/checkpoint.hpp"
#include "longctx/train/trainer.hpp"
#include "model_flags.hpp"

namespace longctx::app {
namespace {

void print_progress(const train::TrainProgress& p) {
  std::fprintf(stderr,
               "step %lld/%lld  T %lld  loss %.4f  acc %.3f  answer %.3f%s  |g| %.3f  lr %.2e  "
               "%.2f steps/s  "
               "%.0f tok/s%s\n",
               static_cast<long long>(p.step), static_cast<long long>(p.steps),
               static_cast<long long>(p.seq_len), p.loss, p.accuracy, p.answer_accuracy,
               p.indexer_loss > 0 ? (" KL " + std::to_string(p.indexer_loss)).c_str() : "",
               p.grad_norm, p.lr, p.steps_per_second, p.tokens_per_second,
               p.saved ? "  (saved)" : "");
}

std::string joined_command(int argc, char** argv) {
  std::string s = "longctx";
  for (int i = 0; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  CLI::App app{"Train a decoder on synthetic passkey retrieval (SPEC §7) with AdamW"};
  std::string out_dir, init_dir, rope_scaling;
  bool resume = false, json = false;
  train::ByteModelShape fresh;
  fresh.max_position = 0;  // 0: the training length
  train::TrainerOptions o;
  int64_t steps = 0;
  app.add_option("--out", out_dir, "output directory: checkpoint, optimizer state, loss.csv")
      ->required();
  app.add_flag("--resume", resume, "continue the run saved in --out (its options are kept)");
  app.add_option("--init", init_dir, "start from this HF checkpoint (fine-tuning)");
  app.add_option("--rope-scaling", rope_scaling, kRopeScalingFlagHelp);
  app.add_option("--hidden", fresh.hidden, "fresh model: hidden size");
  app.add_option("--layers", fresh.layers, "fresh model: decoder layers");
  app.add_option("--heads", fresh.heads, "fresh model: query heads");
  app.add_option("--kv-heads", fresh.kv_heads, "fresh model: KV heads (GQA)");
  app.add_option("--head-dim", fresh.head_dim, "fresh model: head dimension");
  app.add_option("--intermediate", fresh.intermediate, "fresh model: MLP size");
  app.add_option("--max-position", fresh.max_position,
                 "max_position_embeddings of the saved config (0: --seq-len)");
  app.add_option("--rope-theta", fresh.rope_theta, "fresh model: RoPE base");
  app.add_flag("--tie-embeddings", fresh.tie_embeddings,
               "fresh model: LM head tied to the embedding");
  app.add_option("--steps", steps, "optimizer steps in total")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch_rows, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--seq-len", o.seq_len, "tokens per sequence");
  app.add_option("--min-seq-len", o.min_seq_len,
                 "> 0: each step's length is drawn in [min, --seq-len]");
  app.add_option("--lr", o.lr.peak_lr, "peak learning rate");
  app.add_option("--min-lr", o.lr.min_lr, "learning rate at the end of the cosine decay");
  app.add_option("--warmup", o.lr.warmup_steps, "linear warm-up steps");
  app.add_option("--weight-decay", o.adamw.weight_decay, "AdamW weight decay (matrices)");
  app.add_option("--beta2", o.adamw.beta2, "AdamW beta2");
  app.add_option("--clip", o.clip_norm, "global gradient-norm clip (<= 0: off)");
  app.add_option("--seed", o.seed, "data and initialisation seed");
  app.add_option("--attention", o.attention, kAttentionFlagHelp);
  app.add_option("--indexer-heads", o.indexer_heads,
                 "dsa layers get a trained lightning indexer with this many heads");
  app.add_option("--indexer-warmup", o.indexer_warmup_steps,
                 "steps of dense attention while the indexer learns the dense KL");
  app.add_option("--indexer-loss-weight", o.indexer_loss_weight, "scale of the indexer's KL");
  app.add_option("--answer-weight", o.answer_weight, "loss weight of the answer tokens");
  app.add_option("--text-weight", o.text_weight, "loss weight of the other tokens");
  app.add_option("--needle-fraction", o.needle_fraction,
                 "share of rows with several keys (the question asks one)");
  app.add_option("--key-digits", o.key_digits, "digits per pass key");
  app.add_option("--log-every", o.log_every, "steps per progress line / loss.csv row");
  app.add_option("--save-every", o.save_every, "steps per checkpoint (0: at the end)");
  app.add_option("--stop-after", o.stop_after,
                 "stop (and save) after this many steps of this call; --resume continues");
  app.add_option("--threads", o.threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  app.add_flag("--json", json, "print a JSON summary on stdout at the end");
  if (auto code = parse_command_line(app, "longctx train", argc, argv)) return *code;
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const std::filesystem::path dir(out_dir);

  model::ModelConfig config;
  model::DecoderWeights weights;
  train::AdamW optimizer(o.adamw);
  int64_t start_step = 0, tokens_seen = 0;
  if (resume) {
    LONGCTX_CHECK_ARG(init_dir.empty(), "--init", "no --init with --resume", init_dir);
    LONGCTX_CHECK_ARG(std::filesystem::is_regular_file(dir / "trainer_state.json"), "--resume",
                      "a run saved in --out (trainer_state.json)", "'" << out_dir << "'");
    config = model::load_model_config(dir);
    weights = model::load_decoder_weights(model::Checkpoint::open(dir), config);
    const int threads = o.threads;
    const int64_t stop_after = o.stop_after;
    train::AdamW probe;
    train::TrainingState st = train::load_training_state(dir, probe, weights);
    o = train::trainer_options_from_json(st.options);
    o.threads = threads;
    o.stop_after = stop_after;
    optimizer = train::AdamW(o.adamw);
    st = train::load_training_state(dir, optimizer, weights);
    start_step = st.step;
    tokens_seen = st.tokens_seen;
    if (steps > 0) o.steps = steps;
    std::fprintf(stderr, "longctx train: resuming %s at step %lld of %lld\n", out_dir.c_str(),
                 static_cast<long long>(start_step), static_cast<long long>(o.steps));
  } else {
    if (steps > 0) o.steps = steps;
    if (!init_dir.empty()) {
      config = model::load_model_config(init_dir);
      weights = model::load_decoder_weights(model::Checkpoint::open(init_dir), config);
      if (fresh.max_position > 0) config.max_position_embeddings = fresh.max_position;
    } else {
      if (fresh.max_position == 0) fresh.max_position = o.seq_len;
      config = train::byte_model_config(fresh);
      weights = model::random_decoder_weights(config, o.seed + 1);
    }
    if (!rope_scaling.empty()) model::apply_rope_scaling_override(config, rope_scaling);
    train::validate(o, config);
    std::filesystem::create_directories(dir);
  }
  {
    std::ofstream cmd(dir / "train_command.txt", std::ios::app);
    cmd << joined_command(argc, argv) << "\n";
  }
  std::fprintf(stderr,
               "longctx train: %lld parameters (hidden %lld, %lld layers, %lld/%lld heads x %lld), "
               "attention %s, %lld x %lld tokens per step, %lld steps\n",
               static_cast<long long>(weights.parameter_count()),
               static_cast<long long>(config.hidden_size),
               static_cast<long long>(config.num_layers), static_cast<long long>(config.num_heads),
               static_cast<long long>(config.num_kv_heads), static_cast<long long>(config.head_dim),
               o.attention.c_str(), static_cast<long long>(o.batch_rows),
               static_cast<long long>(o.seq_len), static_cast<long long>(o.steps));
  const train::TrainResult r =
      train::train(o, config, weights, optimizer, start_step, tokens_seen, dir, print_progress);
  std::fprintf(stderr, "longctx train: %lld steps in %.1f s (%.0f tok/s), final loss %.4f -> %s\n",
               static_cast<long long>(r.steps_run), r.seconds,
               r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0, r.final_loss, out_dir.c_str());
  if (json) {
    const nlohmann::json j{{"steps", o.steps},
                           {"steps_run", r.steps_run},
                           {"final_loss", r.final_loss},
                           {"seconds", r.seconds},
                           {"tokens", r.tokens},
                           {"parameters", weights.parameter_count()},
                           {"out", out_dir}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

}  // namespace longctx::app
