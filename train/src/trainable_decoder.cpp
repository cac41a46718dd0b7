// Forward with saved activations, loss and backward of the decoder (see trainable_decoder.hpp).
#include "longctx/train/trainable_decoder.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "indexer_projection.hpp"  // model/src
#include "longctx/core/error.hpp"
#include "longctx/model/rope.hpp"
#include "train_attention.hpp"
#include "train_ops.hpp"

namespace longctx::train {

using model::DecoderWeights;
using model::LayerWeights;

// What one layer's backward needs. R = B·T rows.
struct LayerActivations {
  std::vector<float> x_in;           // [R, hidden] residual stream entering the layer
  std::vector<float> inv1, inv2;     // [R] inverse RMS of the two norms
  std::vector<float> xn1, xn2;       // [R, hidden] normalised inputs of attention and MLP
  std::vector<float> q, k, v;        // [R, H·D], [R, G·D], [R, G·D] (q, k rotated)
  std::vector<float> attn;           // [R, H·D] attention output (before o_proj)
  std::vector<float> x_mid;          // [R, hidden] residual after attention
  std::vector<float> gate, up, act;  // [R, I] SwiGLU pre-activations and silu(gate)·up
  std::vector<float> iq, ik, iw;     // indexer: [R, H_I·D], [R, D], [R, H_I]
  AttentionSaved saved;
};

struct TrainableDecoder::Activations {
  int64_t rows = 0, seq = 0;
  std::vector<int64_t> positions;  // [R]: t of each row
  std::map<double, model::RotaryEmbedding> ropes;
  std::vector<LayerActivations> layers;
  std::vector<float> x_final, inv_final, xn_final;  // [R, hidden], [R], [R, hidden]
  std::vector<float> logits;                        // [R, V]
  double indexer_loss = 0.0;
  int64_t indexer_layers = 0;
};

namespace {

bool has_indexer(const model::LayerAttention& a, const LayerWeights& w) {
  return a.kind == model::AttentionKind::dsa && w.indexer.present();
}

// Sets OpenBLAS to the training's thread count for the duration of a call: training products
// are tall and BLAS splits them itself (the runtime keeps BLAS single-threaded instead).
int blas_threads(int threads) {
  return threads > 0 ? threads : omp_get_max_threads();
}

}  // namespace

TrainableDecoder::TrainableDecoder(const model::ModelConfig& config,
                                   const model::AttentionSchedule& schedule,
                                   TrainableOptions options)
    : config_(config),
      schedule_(schedule),
      options_(options),
      acts_(std::make_unique<Activations>()) {
  LONGCTX_CHECK_ARG(int64_t(schedule.layers.size()) == config.num_layers, "schedule",
                    config.num_layers << " layers", schedule.layers.size());
}

TrainableDecoder::~TrainableDecoder() = default;

std::span<const float> TrainableDecoder::logits() const {
  return acts_->logits;
}

StepLoss TrainableDecoder::forward_backward(const DecoderWeights& weights, const TokenBatch& batch,
                                            DecoderWeights& grads) {
  return run(weights, batch, &grads);
}

StepLoss TrainableDecoder::evaluate(const DecoderWeights& weights, const TokenBatch& batch) {
  return run(weights, batch, nullptr);
}

StepLoss TrainableDecoder::run(const DecoderWeights& weights, const TokenBatch& batch,
                               DecoderWeights* grads) {
  const int64_t B = batch.rows, T = batch.seq_len, V = config_.vocab_size;
  LONGCTX_CHECK_ARG(B >= 1 && T >= 2, "batch", "rows >= 1 and seq_len >= 2",
                    B << " rows, seq_len " << T);
  LONGCTX_CHECK_ARG(int64_t(batch.tokens.size()) == B * T, "tokens", "rows × seq_len = " << B * T,
                    batch.tokens.size());
  LONGCTX_CHECK_ARG(int64_t(batch.loss_weights.size()) == B * T, "loss_weights",
                    "rows × seq_len = " << B * T, batch.loss_weights.size());
  LONGCTX_CHECK_ARG(int64_t(weights.layers.size()) == config_.num_layers, "weights",
                    config_.num_layers << " layers", weights.layers.size());
  for (int64_t i = 0; i < B * T; ++i) {
    const int32_t t = batch.tokens[size_t(i)];
    LONGCTX_CHECK_ARG(t >= 0 && t < V, "tokens", "ids in [0, " << V << ")", t << " at index " << i);
    LONGCTX_CHECK_ARG(batch.loss_weights[size_t(i)] >= 0.f, "loss_weights", "values >= 0",
                      batch.loss_weights[size_t(i)] << " at index " << i);
  }
  if (options_.threads > 0) omp_set_num_threads(options_.threads);
  // Products split their rows over OpenMP themselves (train_ops.hpp): BLAS runs single-threaded.
  openblas_set_num_threads(1);
  forward(weights, batch);

  // Targets: the next token of the same row; the last position of a row predicts nothing.
  std::vector<int32_t> targets(size_t(B * T));    // [B, T]
  std::vector<float> weights_row(size_t(B * T));  // [B, T]
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      const bool last = t == T - 1;
      targets[i] = last ? 0 : batch.tokens[i + 1];
      weights_row[i] = last ? 0.f : batch.loss_weights[i];
    }
  double wsum = 0.0;
  for (float w : weights_row) wsum += w;
  LONGCTX_CHECK_ARG(wsum > 0.0, "loss_weights", "a positive sum over predicted positions", wsum);
  Activations& a = *acts_;
  std::vector<float> dlogits;
  float* z = a.logits.data();
  if (grads != nullptr) {
    dlogits = a.logits;  // keep logits() readable after the backward
    z = dlogits.data();
  }
  const CrossEntropy ce = cross_entropy(z, targets.data(), weights_row.data(), B * T, V, wsum,
                                        /*gradient=*/grads != nullptr);
  if (grads != nullptr) {
    a.logits.swap(dlogits);  // a.logits: gradient during the backward, restored after
    backward(weights, batch, *grads);
    a.logits.swap(dlogits);
  }
  StepLoss out;
  out.loss = ce.weighted_loss / wsum;
  out.weight_sum = wsum;
  out.accuracy = ce.counted > 0 ? double(ce.correct) / double(ce.counted) : 0.0;
  out.indexer_loss = a.indexer_layers > 0 ? a.indexer_loss / double(a.indexer_layers * B * T) : 0.0;
  out.tokens = B * T;
  return out;
}

void TrainableDecoder::forward(const DecoderWeights& w, const TokenBatch& batch) {
  const model::ModelConfig& c = config_;
  const int64_t B = batch.rows, T = batch.seq_len, R = B * T, hidden = c.hidden_size,
                H = c.num_heads, G = c.num_kv_heads, D = c.head_dim, I = c.intermediate_size;
  Activations& a = *acts_;
  a.rows = R;
  a.seq = T;
  a.positions.resize(size_t(R));
  for (int64_t i = 0; i < R; ++i) a.positions[size_t(i)] = i % T;
  for (const model::LayerAttention& la : schedule_.layers) {
    model::RopeConfig rc = c.rope;
    rc.theta = la.rope_theta.value_or(c.rope.theta);
    model::RotaryEmbedding& rope = a.ropes[rc.theta];
    rope = model::RotaryEmbedding(model::rope_frequencies(rc, D, c.max_position_embeddings, T), D);
    rope.reserve(T);
  }
  a.layers.resize(size_t(c.num_layers));
  a.indexer_loss = 0.0;
  a.indexer_layers = 0;

  std::vector<float> x(size_t(R * hidden));  // [R, hidden] residual stream
  for (int64_t i = 0; i < R; ++i)
    std::memcpy(x.data() + i * hidden, w.embed.data() + int64_t(batch.tokens[size_t(i)]) * hidden,
                size_t(hidden) * sizeof(float));
  const AttentionShape shape{B, T, H, G, D, options_.threads};
  for (int64_t li = 0; li < c.num_layers; ++li) {
    const LayerWeights& lw = w.layers[size_t(li)];
    const model::LayerAttention& la = schedule_.layers[size_t(li)];
    LayerActivations& L = a.layers[size_t(li)];
    const model::RotaryEmbedding& rope = a.ropes.at(la.rope_theta.value_or(c.rope.theta));
    L.x_in = x;
    L.inv1.resize(size_t(R));
    L.xn1.resize(size_t(R * hidden));
    rms_norm_forward(x.data(), lw.input_norm.data(), R, hidden, c.rms_norm_eps, L.xn1.data(),
                     L.inv1.data());
    L.q.resize(size_t(R * H * D));
    L.k.resize(size_t(R * G * D));
    L.v.resize(L.k.size());
    linear_forward(L.xn1.data(), R, lw.q, L.q.data());
    linear_forward(L.xn1.data(), R, lw.k, L.k.data());
    linear_forward(L.xn1.data(), R, lw.v, L.v.data());
    rope.apply(L.q.data(), R, H, H * D, a.positions.data());
    rope.apply(L.k.data(), R, G, G * D, a.positions.data());
    IndexerActivations ix;
    if (has_indexer(la, lw)) {
      const int64_t HI = lw.indexer.heads();
      L.iq.resize(size_t(R * HI * D));
      L.ik.resize(size_t(R * D));
      L.iw.resize(size_t(R * HI));
      openblas_set_num_threads(1);  // model/'s linear splits columns over OpenMP itself
      model::indexer_projection(L.xn1.data(), R, lw.indexer, rope, a.positions.data(), L.iq.data(),
                                L.ik.data(), L.iw.data());
      openblas_set_num_threads(blas_threads(options_.threads));
      ix = {L.iq.data(), L.ik.data(), L.iw.data(), HI};
    }
    L.attn.resize(L.q.size());
    train_attention_forward(la, shape, L.q.data(), L.k.data(), L.v.data(),
                            has_indexer(la, lw) ? &ix : nullptr, options_.dense_dsa, L.attn.data(),
                            L.saved);
    std::vector<float> o(size_t(R * hidden));  // [R, hidden]
    linear_forward(L.attn.data(), R, lw.o, o.data());
    for (int64_t i = 0; i < R * hidden; ++i) x[size_t(i)] += o[size_t(i)];
    L.x_mid = x;
    L.inv2.resize(size_t(R));
    L.xn2.resize(size_t(R * hidden));
    rms_norm_forward(x.data(), lw.post_norm.data(), R, hidden, c.rms_norm_eps, L.xn2.data(),
                     L.inv2.data());
    L.gate.resize(size_t(R * I));
    L.up.resize(L.gate.size());
    L.act.resize(L.gate.size());
    linear_forward(L.xn2.data(), R, lw.gate, L.gate.data());
    linear_forward(L.xn2.data(), R, lw.up, L.up.data());
    swiglu_forward(L.gate.data(), L.up.data(), R * I, L.act.data());
    linear_forward(L.act.data(), R, lw.down, o.data());
    for (int64_t i = 0; i < R * hidden; ++i) x[size_t(i)] += o[size_t(i)];
  }
  a.x_final = std::move(x);
  a.inv_final.resize(size_t(R));
  a.xn_final.resize(size_t(R * hidden));
  rms_norm_forward(a.x_final.data(), w.final_norm.data(), R, hidden, c.rms_norm_eps,
                   a.xn_final.data(), a.inv_final.data());
  a.logits.resize(size_t(R * c.vocab_size));
  gemm_nt(a.xn_final.data(), w.lm_head_data(), a.logits.data(), R, c.vocab_size, hidden, 0.f);
}

void TrainableDecoder::backward(const DecoderWeights& w, const TokenBatch& batch,
                                DecoderWeights& g) {
  const model::ModelConfig& c = config_;
  Activations& a = *acts_;
  const int64_t R = a.rows, T = a.seq, B = R / T, hidden = c.hidden_size, H = c.num_heads,
                G = c.num_kv_heads, D = c.head_dim, I = c.intermediate_size, V = c.vocab_size;
  LONGCTX_CHECK_ARG(g.layers.size() == w.layers.size() && g.embed.size() == w.embed.size() &&
                        g.lm_head.size() == w.lm_head.size(),
                    "grads", "the shapes of the weights (model::zeros_like)", "other shapes");
  const float* dlogits = a.logits.data();  // [R, V]
  // LM head: dW [V, hidden] += dlogitsᵀ · xn_final; dxn [R, hidden] = dlogits · W.
  float* dhead = w.lm_head.empty() ? g.embed.data() : g.lm_head.data();
  gemm_tn(dlogits, a.xn_final.data(), dhead, V, hidden, R, 1.f);
  std::vector<float> dxn(size_t(R * hidden));  // [R, hidden]
  gemm_nn(dlogits, w.lm_head_data(), dxn.data(), R, hidden, V, 0.f);
  std::vector<float> dx(size_t(R * hidden), 0.f);  // [R, hidden] gradient of the residual stream
  rms_norm_backward(a.x_final.data(), w.final_norm.data(), a.inv_final.data(), dxn.data(), R,
                    hidden, dx.data(), g.final_norm.data());

  const AttentionShape shape{B, T, H, G, D, options_.threads};
  std::vector<float> dact(size_t(R * I)), dgate(dact.size()), dup(dact.size());  // [R, I]
  std::vector<float> dattn(size_t(R * H * D)), dq(dattn.size());                 // [R, H·D]
  std::vector<float> dk(size_t(R * G * D)), dv(dk.size());                       // [R, G·D]
  for (int64_t li = c.num_layers - 1; li >= 0; --li) {
    const LayerWeights& lw = w.layers[size_t(li)];
    LayerWeights& lg = g.layers[size_t(li)];
    const model::LayerAttention& la = schedule_.layers[size_t(li)];
    LayerActivations& L = a.layers[size_t(li)];
    const model::RotaryEmbedding& rope = a.ropes.at(la.rope_theta.value_or(c.rope.theta));
    // MLP: x += down(silu(gate(xn2)) · up(xn2)).
    linear_backward(L.act.data(), dx.data(), R, lw.down, lg.down, dact.data(), false);
    swiglu_backward(L.gate.data(), L.up.data(), dact.data(), R * I, dgate.data(), dup.data());
    linear_backward(L.xn2.data(), dgate.data(), R, lw.gate, lg.gate, dxn.data(), false);
    linear_backward(L.xn2.data(), dup.data(), R, lw.up, lg.up, dxn.data(), true);
    rms_norm_backward(L.x_mid.data(), lw.post_norm.data(), L.inv2.data(), dxn.data(), R, hidden,
                      dx.data(), lg.post_norm.data());
    // Attention: x += o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))).
    linear_backward(L.attn.data(), dx.data(), R, lw.o, lg.o, dattn.data(), false);
    train_attention_backward(la, shape, L.q.data(), L.k.data(), L.v.data(), L.attn.data(), L.saved,
                             dattn.data(), dq.data(), dk.data(), dv.data());
    rope.apply(dq.data(), R, H, H * D, a.positions.data(), /*transpose=*/true);
    rope.apply(dk.data(), R, G, G * D, a.positions.data(), /*transpose=*/true);
    linear_backward(L.xn1.data(), dq.data(), R, lw.q, lg.q, dxn.data(), false);
    linear_backward(L.xn1.data(), dk.data(), R, lw.k, lg.k, dxn.data(), true);
    linear_backward(L.xn1.data(), dv.data(), R, lw.v, lg.v, dxn.data(), true);
    rms_norm_backward(L.x_in.data(), lw.input_norm.data(), L.inv1.data(), dxn.data(), R, hidden,
                      dx.data(), lg.input_norm.data());
    if (has_indexer(la, lw)) {
      // The indexer's KL loss reaches only its own weights (its input is detached).
      const int64_t HI = lw.indexer.heads();
      const IndexerActivations ix{L.iq.data(), L.ik.data(), L.iw.data(), HI};
      std::vector<float> diq(L.iq.size()), dik(L.ik.size()), diw(L.iw.size());
      a.indexer_loss += indexer_loss_backward(shape, L.q.data(), L.k.data(), ix, L.saved,
                                              diq.data(), dik.data(), diw.data());
      a.indexer_layers += 1;
      const float scale = float(options_.indexer_loss_weight / double(R));
      const float wscale = scale * model::indexer_weight_scale(lw.indexer);
      for (float& v : diq) v *= scale;
      for (float& v : dik) v *= scale;
      for (float& v : diw) v *= wscale;
      rope.apply(diq.data(), R, HI, HI * D, a.positions.data(), /*transpose=*/true);
      rope.apply(dik.data(), R, 1, D, a.positions.data(), /*transpose=*/true);
      linear_backward(L.xn1.data(), diq.data(), R, lw.indexer.wq, lg.indexer.wq, nullptr, false);
      linear_backward(L.xn1.data(), dik.data(), R, lw.indexer.wk, lg.indexer.wk, nullptr, false);
      linear_backward(L.xn1.data(), diw.data(), R, lw.indexer.weights, lg.indexer.weights, nullptr,
                      false);
    }
  }
  // Embedding rows: scatter-add (serial: rows sharing a token id would race).
  for (int64_t i = 0; i < R; ++i) {
    float* row = g.embed.data() + int64_t(batch.tokens[size_t(i)]) * hidden;
    const float* d = dx.data() + i * hidden;
    for (int64_t j = 0; j < hidden; ++j) row[j] += d[j];
  }
}

}  // namespace longctx::train
