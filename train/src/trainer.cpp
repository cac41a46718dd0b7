// The training loop (see trainer.hpp).
#include "longctx/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/tokenizer.hpp"
#include "longctx/train/checkpoint.hpp"
#include "longctx/train/passkey_data.hpp"
#include "longctx/train/trainable_decoder.hpp"

namespace longctx::train {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser: decorrelates (seed, step) pairs
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

const char* kLossHeader =
    "step,seq_len,loss,accuracy,answer_accuracy,indexer_loss,grad_norm,lr,tokens_per_second";

// Keeps the log's rows of steps <= last_step (a resumed run rewrites what follows).
void truncate_loss_log(const std::filesystem::path& file, int64_t last_step) {
  std::vector<std::string> keep{kLossHeader};
  if (std::ifstream in{file}; in) {
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (std::stoll(line.substr(0, line.find(','))) <= last_step) keep.push_back(line);
    }
  }
  std::ofstream out(file, std::ios::trunc);
  LONGCTX_CHECK_ARG(out.good(), "loss log", "a writable file", file.string());
  for (const std::string& l : keep) out << l << "\n";
}

void add_indexers(const TrainerOptions& o, const model::ModelConfig& c,
                  const model::AttentionSchedule& s, model::DecoderWeights& w) {
  if (o.indexer_heads == 0) return;
  std::vector<int64_t> layers;
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i].kind == model::AttentionKind::dsa && !w.layers[i].indexer.present())
      layers.push_back(int64_t(i));
  if (!layers.empty()) model::add_random_indexers(w, c, layers, o.indexer_heads, mix(o.seed + 2));
}

}  // namespace

StepBatch training_batch(const TrainerOptions& o, int64_t step) {
  const uint64_t seed = mix(o.seed * 0x100000001b3ull + uint64_t(step));
  int64_t seq_len = o.seq_len;
  if (o.min_seq_len > 0)
    seq_len = o.min_seq_len + int64_t(mix(seed) % uint64_t(o.seq_len - o.min_seq_len + 1));
  PasskeyBatchOptions bo;
  bo.rows = o.batch_rows;
  bo.seq_len = seq_len;
  bo.answer_weight = o.answer_weight;
  bo.text_weight = o.text_weight;
  bo.key_digits = o.key_digits;
  bo.needle_fraction = o.needle_fraction;
  static const std::unique_ptr<model::Tokenizer> bytes = model::make_byte_tokenizer();
  PasskeyBatch b = make_passkey_batch(bo, *bytes, seed);
  return {b.rows, b.seq_len, std::move(b.tokens), std::move(b.loss_weights), std::move(b.keys)};
}

int64_t rows_answered(const StepBatch& b, std::span<const float> logits, int64_t V) {
  const int64_t T = b.seq_len;
  int64_t answered = 0;
  for (int64_t r = 0; r < b.rows; ++r) {
    const std::string& key = b.keys[size_t(r)];
    const int64_t n = int64_t(key.size()), first = T - n;  // key digits: tokens [T − n, T)
    bool ok = first >= 1;
    for (int64_t i = first; ok && i < T; ++i) {
      ok = b.tokens[size_t(r * T + i)] == int32_t(uint8_t(key[size_t(i - first)]));
      const float* z = logits.data() + (r * T + i - 1) * V;  // [V] predicts token i
      ok = ok && std::max_element(z, z + V) - z == b.tokens[size_t(r * T + i)];
    }
    answered += ok ? 1 : 0;
  }
  return answered;
}

TrainResult train(const TrainerOptions& o, const model::ModelConfig& c,
                  model::DecoderWeights& weights, AdamW& optimizer, int64_t start_step,
                  int64_t tokens_seen, const std::filesystem::path& dir,
                  const std::function<void(const TrainProgress&)>& report) {
  validate(o, c);
  LONGCTX_CHECK_ARG(start_step >= 0 && start_step <= o.steps, "start_step",
                    "in [0, steps = " << o.steps << "]", start_step);
  const model::AttentionSchedule schedule = model::parse_attention_schedule(o.attention, c);
  add_indexers(o, c, schedule, weights);
  std::filesystem::create_directories(dir);
  const std::filesystem::path log_file = dir / "loss.csv";
  truncate_loss_log(log_file, start_step);
  std::ofstream log(log_file, std::ios::app);

  LrSchedule lr = o.lr;
  lr.total_steps = std::max(o.steps, lr.warmup_steps);
  TrainableOptions to;
  to.threads = o.threads;
  to.indexer_loss_weight = o.indexer_loss_weight;
  TrainableDecoder decoder(c, schedule, to);
  model::DecoderWeights grads = model::zeros_like(weights);

  TrainResult result;
  result.first_step = start_step;
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  auto t_interval = t_start;
  double sum_loss = 0, sum_acc = 0, sum_ix = 0, sum_norm = 0, sum_answer = 0;
  int64_t interval_steps = 0, interval_tokens = 0;
  for (int64_t step = start_step; step < o.steps; ++step) {
    const StepBatch batch = training_batch(o, step);
    for (model::NamedParameter& p : model::named_parameters(grads))
      std::fill(p.values->begin(), p.values->end(), 0.f);
    decoder.options().dense_dsa = step < o.indexer_warmup_steps;
    const StepLoss sl = decoder.forward_backward(
        weights, {batch.rows, batch.seq_len, batch.tokens, batch.loss_weights}, grads);
    const int64_t answered = rows_answered(batch, decoder.logits(), c.vocab_size);
    const double norm = clip_grad_norm(grads, o.clip_norm);
    if (!std::isfinite(norm) || !std::isfinite(sl.loss))
      throw RuntimeError(detail::concat("training diverged at step ", step + 1, ": loss ", sl.loss,
                                        ", gradient norm ", norm,
                                        " (lower --lr or raise --warmup)"));
    const double rate = learning_rate(lr, step);
    // DeepSeek's dense warm-up stage: only the indexers learn while the model is frozen.
    const bool indexer_only = o.indexer_heads > 0 && step < o.indexer_warmup_steps;
    optimizer.step(
        weights, grads, rate,
        indexer_only
            ? [](const std::string& name) { return name.find(".indexer.") != std::string::npos; }
            : std::function<bool(const std::string&)>{});
    sum_loss += sl.loss;
    sum_acc += sl.accuracy;
    sum_answer += double(answered) / double(batch.rows);
    sum_ix += sl.indexer_loss;
    sum_norm += norm;
    interval_steps += 1;
    interval_tokens += sl.tokens;
    result.tokens += sl.tokens;
    result.steps_run += 1;
    const int64_t done = step + 1;
    const bool last = done == o.steps || (o.stop_after > 0 && result.steps_run == o.stop_after);
    const bool save = last || (o.save_every > 0 && done % o.save_every == 0);
    if (save) {
      save_model_checkpoint(dir, c, weights);
      save_training_state(dir, optimizer, {done, tokens_seen + result.tokens, to_json(o)});
    }
    if (done % o.log_every == 0 || last) {
      const double secs = std::chrono::duration<double>(clock::now() - t_interval).count();
      TrainProgress p;
      p.step = done;
      p.steps = o.steps;
      p.loss = sum_loss / double(interval_steps);
      p.accuracy = sum_acc / double(interval_steps);
      p.indexer_loss = sum_ix / double(interval_steps);
      p.answer_accuracy = sum_answer / double(interval_steps);
      p.grad_norm = sum_norm / double(interval_steps);
      p.lr = rate;
      p.steps_per_second = double(interval_steps) / secs;
      p.tokens_per_second = double(interval_tokens) / secs;
      p.seq_len = batch.seq_len;
      p.saved = save;
      log << done << "," << batch.seq_len << "," << p.loss << "," << p.accuracy << ","
          << p.answer_accuracy << "," << p.indexer_loss << "," << p.grad_norm << "," << p.lr << ","
          << p.tokens_per_second << "\n";
      log.flush();
      result.final_loss = p.loss;
      if (report) report(p);
      sum_loss = sum_acc = sum_ix = sum_norm = sum_answer = 0;
      interval_steps = interval_tokens = 0;
      t_interval = clock::now();
    }
    if (last) break;
  }
  result.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  return result;
}

}  // namespace longctx::train
