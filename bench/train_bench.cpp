// Training step benchmark (issue 8): the step of `longctx train` on passkey batches — batch
// generation (training_batch), forward + backward (TrainableDecoder::forward_backward) and the
// optimizer (clip_grad_norm + AdamW::step, with the gradients zeroed for the next step) — timed
// separately, per sequence length and attention schedule, on a fresh randomly initialised model
// (default: the shipped passkey model's shape). Reports tokens/s, the median ms of each part,
// the model's achieved GFLOP/s and its ratio to OpenBLAS sgemm measured in the same run, at the
// same thread count, on the training's typical product [B·T, hidden] × [hidden, intermediate].
//
// FLOPs of one step (forward 2, backward 4 per multiply-add):
//   linear:    6 · (non-embedding matmul parameters + LM head) · B·T
//   attention: 12 · pairs · D per layer (q·k and p·v: 4 forward + 8 backward per pair), where
//              pairs = B·H·T²/2 for dense causal, B·H·T·W for window:W, B·H·T·k for dsa:k and
//              topk-exact:k (the selected pairs only: the selection's own cost is time without
//              counted FLOPs), the pattern's pair count for dilated.
// The median step time (sum of the parts, per step) is the denominator.
//
//   build/bin/train_bench --threads 2
//   build/bin/train_bench --threads 2 --seq-lens 384 --attention dense --json
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_parse.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/timer.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/sparse/dilated.hpp"
#include "longctx/train/adamw.hpp"
#include "longctx/train/byte_model.hpp"
#include "longctx/train/trainable_decoder.hpp"
#include "longctx/train/trainer.hpp"

using namespace longctx;

namespace {

struct BenchOptions {
  int threads = 2;
  int64_t layers = 2, hidden = 128, heads = 4, kv_heads = 2, head_dim = 32, intermediate = 384;
  int64_t batch = 16;
  std::vector<int64_t> seq_lens{384, 1024, 4096};
  std::vector<std::string> attention{"dense", "window:128", "dense;dsa:16", "dense;topk-exact:8"};
  int steps = 5;
  bool json = false;
};

// A fresh Llama of the requested shape, as `longctx train` builds one (byte vocabulary).
model::ModelConfig bench_config(const BenchOptions& o) {
  train::ByteModelShape shape;
  shape.hidden = o.hidden;
  shape.layers = o.layers;
  shape.heads = o.heads;
  shape.kv_heads = o.kv_heads;
  shape.head_dim = o.head_dim;
  shape.intermediate = o.intermediate;
  shape.max_position = *std::max_element(o.seq_lens.begin(), o.seq_lens.end());
  return train::byte_model_config(shape);
}

// (query, key) pairs one batch element's layer computes, summed over its query heads.
double attention_pairs(const model::LayerAttention& la, int64_t T, int64_t H) {
  const double t = double(T), h = double(H);
  switch (la.kind) {
    case model::AttentionKind::dense:
      return h * t * t / 2.0;
    case model::AttentionKind::window:
      return h * t * double(std::min(la.window, T));
    case model::AttentionKind::dsa:
    case model::AttentionKind::topk_exact:
      return h * t * double(std::min(la.top_k, T));
    case model::AttentionKind::dilated: {
      sparse::DilatedSpec spec;
      spec.patterns = la.patterns;
      return double(sparse::dilated_pair_count(spec, T, H));
    }
  }
  return 0.0;
}

// Model FLOPs of one training step (forward + backward) over B rows of T tokens.
double step_flops(const model::ModelConfig& c, const model::AttentionSchedule& s, int64_t B,
                  int64_t T) {
  const double d = double(c.hidden_size), qd = double(c.num_heads * c.head_dim),
               kvd = double(c.num_kv_heads * c.head_dim), inter = double(c.intermediate_size);
  const double per_layer = 2.0 * d * qd + 2.0 * d * kvd + 3.0 * d * inter;  // q,o; k,v; MLP
  const double matmul_params = per_layer * double(c.num_layers) + d * double(c.vocab_size);
  double flops = 6.0 * matmul_params * double(B * T);
  for (const model::LayerAttention& la : s.layers)
    flops += 12.0 * double(B) * attention_pairs(la, T, c.num_heads) * double(c.head_dim);
  return flops;
}

struct SgemmRate {
  double ms = 0.0, gflops = 0.0;
};

// Median of `repeats` products X·Wᵀ with X [rows, hidden] and W [intermediate, hidden] (the
// layout and operand order of the trainer's linear layers), after one warm-up, on `threads`
// OpenBLAS threads. The trainable decoder sets the BLAS thread count itself on every step.
SgemmRate measure_training_sgemm(int64_t rows, int64_t hidden, int64_t intermediate, int threads,
                                 int repeats) {
  std::vector<float> x(size_t(rows * hidden));          // [rows, hidden]
  std::vector<float> w(size_t(intermediate * hidden));  // [intermediate, hidden]
  std::vector<float> y(size_t(rows * intermediate));    // [rows, intermediate]
  Rng rng(12345);
  for (float& v : x) v = rng.uniform(-1.f, 1.f);
  for (float& v : w) v = rng.uniform(-1.f, 1.f);
  auto gemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(intermediate), int(hidden),
                1.f, x.data(), int(hidden), w.data(), int(hidden), 0.f, y.data(),
                int(intermediate));
  };
  openblas_set_num_threads(threads);
  gemm();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    Stopwatch sw;
    gemm();
    ms.push_back(sw.elapsed_ms());
  }
  SgemmRate rate;
  rate.ms = median(ms);
  rate.gflops = 2.0 * double(rows) * double(hidden) * double(intermediate) / (rate.ms * 1e6);
  return rate;
}

struct StepTimes {
  std::vector<double> batch_ms, forward_backward_ms, optimizer_ms, step_ms;  // [steps] each
};

// One warm-up step, then `steps` timed steps of the training loop on fresh weights.
StepTimes time_training(const model::ModelConfig& c, const model::AttentionSchedule& schedule,
                        const BenchOptions& o, int64_t seq_len) {
  model::DecoderWeights weights = model::random_decoder_weights(c, 1);
  model::DecoderWeights grads = model::zeros_like(weights);
  train::TrainerOptions data;  // only the batch shape and the seed matter to training_batch
  data.batch_rows = o.batch;
  data.seq_len = seq_len;
  train::TrainableOptions to;
  to.threads = o.threads;
  train::TrainableDecoder decoder(c, schedule, to);
  train::AdamW optimizer;
  const double lr = 3e-4, clip_norm = 1.0;
  StepTimes t;
  for (int step = 0; step <= o.steps; ++step) {
    Stopwatch sw;
    const train::StepBatch batch = train::training_batch(data, step);
    const double batch_ms = sw.elapsed_ms();
    sw.restart();
    decoder.forward_backward(weights, {batch.rows, batch.seq_len, batch.tokens, batch.loss_weights},
                             grads);
    const double fb_ms = sw.elapsed_ms();
    sw.restart();
    train::clip_grad_norm(grads, clip_norm);
    optimizer.step(weights, grads, lr);
    for (model::NamedParameter& p : model::named_parameters(grads))
      std::fill(p.values->begin(), p.values->end(), 0.f);
    const double opt_ms = sw.elapsed_ms();
    if (step == 0) continue;  // warm-up: first-touch pages, thread pools
    t.batch_ms.push_back(batch_ms);
    t.forward_backward_ms.push_back(fb_ms);
    t.optimizer_ms.push_back(opt_ms);
    t.step_ms.push_back(batch_ms + fb_ms + opt_ms);
  }
  return t;
}

int run(const BenchOptions& o) {
  omp_set_num_threads(o.threads);
  const model::ModelConfig config = bench_config(o);
  std::vector<model::AttentionSchedule> schedules;
  for (const std::string& a : o.attention)
    schedules.push_back(model::parse_attention_schedule(a, config));
  for (int64_t T : o.seq_lens) {  // fail on a length the passkey data cannot fill before timing
    train::TrainerOptions probe;
    probe.batch_rows = 1;
    probe.seq_len = T;
    train::validate(probe, config);
    train::training_batch(probe, 0);
  }
  const int64_t parameters = model::random_decoder_weights(config, 1).parameter_count();

  FILE* table = o.json ? stderr : stdout;  // --json: stdout holds the JSON object only
  std::fprintf(table,
               "Training step: %lld parameters (%lld layers, hidden %lld, %lld/%lld heads x %lld, "
               "intermediate %lld, vocab %lld), batch %lld, %d threads, median of %d steps\n",
               static_cast<long long>(parameters), static_cast<long long>(o.layers),
               static_cast<long long>(o.hidden), static_cast<long long>(o.heads),
               static_cast<long long>(o.kv_heads), static_cast<long long>(o.head_dim),
               static_cast<long long>(o.intermediate), static_cast<long long>(config.vocab_size),
               static_cast<long long>(o.batch), o.threads, o.steps);
  std::fprintf(table, "%-6s %-20s %10s %10s %10s %8s %8s %9s %9s %8s\n", "T", "attention",
               "tokens/s", "step ms", "fwd+bwd", "optim", "batch", "GFLOP/s", "sgemm", "ratio");
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t T : o.seq_lens) {
    const SgemmRate sgemm =
        measure_training_sgemm(o.batch * T, o.hidden, o.intermediate, o.threads, 5);
    for (size_t i = 0; i < schedules.size(); ++i) {
      const StepTimes t = time_training(config, schedules[i], o, T);
      const double step_ms = median(t.step_ms), tokens = double(o.batch * T);
      const double gflops = step_flops(config, schedules[i], o.batch, T) / (step_ms * 1e6);
      std::fprintf(table, "%-6lld %-20s %10.0f %10.1f %10.1f %8.1f %8.1f %9.2f %9.2f %8.3f\n",
                   static_cast<long long>(T), o.attention[i].c_str(), tokens / (step_ms * 1e-3),
                   step_ms, median(t.forward_backward_ms), median(t.optimizer_ms),
                   median(t.batch_ms), gflops, sgemm.gflops, gflops / sgemm.gflops);
      std::fflush(table);
      rows.push_back({{"seq_len", T},
                      {"attention", o.attention[i]},
                      {"schedule", schedules[i].describe()},
                      {"tokens_per_second", tokens / (step_ms * 1e-3)},
                      {"step_ms_median", step_ms},
                      {"forward_backward_ms_median", median(t.forward_backward_ms)},
                      {"optimizer_ms_median", median(t.optimizer_ms)},
                      {"batch_ms_median", median(t.batch_ms)},
                      {"step_ms", t.step_ms},
                      {"model_gflop_per_step", step_flops(config, schedules[i], o.batch, T) / 1e9},
                      {"model_gflops", gflops},
                      {"sgemm_shape", {o.batch * T, o.hidden, o.intermediate}},
                      {"sgemm_gflops", sgemm.gflops},
                      {"ratio_to_sgemm", gflops / sgemm.gflops}});
    }
  }
  if (o.json)
    std::printf("%s\n", nlohmann::json{{"threads", o.threads},
                                       {"batch", o.batch},
                                       {"steps", o.steps},
                                       {"parameters", parameters},
                                       {"layers", o.layers},
                                       {"hidden", o.hidden},
                                       {"heads", o.heads},
                                       {"kv_heads", o.kv_heads},
                                       {"head_dim", o.head_dim},
                                       {"intermediate", o.intermediate},
                                       {"vocab", config.vocab_size},
                                       {"blas", openblas_get_config()},
                                       {"rows", rows}}
                            .dump(1)
                            .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training step time (passkey batches) per sequence length and attention schedule"};
  BenchOptions o;
  app.add_option("--threads", o.threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--layers", o.layers, "decoder layers")->check(CLI::PositiveNumber);
  app.add_option("--hidden", o.hidden, "hidden size")->check(CLI::PositiveNumber);
  app.add_option("--heads", o.heads, "query heads")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", o.kv_heads, "KV heads")->check(CLI::PositiveNumber);
  app.add_option("--head-dim", o.head_dim, "head dimension")->check(CLI::PositiveNumber);
  app.add_option("--intermediate", o.intermediate, "MLP size")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--seq-lens", o.seq_lens, "sequence lengths, one row each")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 30));
  app.add_option("--attention", o.attention,
                 "attention schedules (longctx train --attention syntax), one row each");
  app.add_option("--steps", o.steps, "timed steps after one warm-up step")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", o.json, "one JSON object on stdout (the table goes to stderr)");
  if (auto code = app::parse_command_line(app, "train_bench", argc, argv)) return *code;
  try {
    return run(o);
  } catch (const ArgumentError& e) {
    std::fprintf(stderr, "train_bench: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_bench: error: %s\n", e.what());
    return 1;
  }
}
