// A float64 reference of the decoder's training loss, written from the definitions with no
// shared code beyond the RoPE frequencies: embedding, RMSNorm, q/k/v/o with biases, RoPE
// (rotate_half pairs, attention scaling), causal attention with an optional window per layer
// and GQA, SwiGLU, final norm, LM head (tied or not), weighted next-token cross-entropy.
// Gradients of the float32 trainer are checked against central finite differences of it.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "longctx/model/config.hpp"
#include "longctx/model/rope.hpp"
#include "longctx/model/weights.hpp"

namespace longctx::train::testing {

struct ReferenceLayer {
  int64_t window = 0;  // 0: dense causal
  double rope_theta = 0.0;
};

inline double reference_loss(const model::ModelConfig& c, const model::DecoderWeights& w,
                             const std::vector<ReferenceLayer>& layers,
                             const std::vector<int32_t>& tokens,  // [B, T]
                             const std::vector<float>& loss_weights, int64_t B, int64_t T) {
  const int64_t hd = c.hidden_size, H = c.num_heads, G = c.num_kv_heads, D = c.head_dim,
                I = c.intermediate_size, V = c.vocab_size, half = D / 2;
  using Vec = std::vector<double>;
  auto rms = [&](const Vec& x, const std::vector<float>& g) {
    Vec y(x.size());
    for (int64_t r = 0; r < int64_t(x.size()) / hd; ++r) {
      double s = 0;
      for (int64_t i = 0; i < hd; ++i) s += x[r * hd + i] * x[r * hd + i];
      const double inv = 1.0 / std::sqrt(s / double(hd) + c.rms_norm_eps);
      for (int64_t i = 0; i < hd; ++i) y[r * hd + i] = x[r * hd + i] * inv * g[i];
    }
    return y;
  };
  auto lin = [&](const Vec& x, const model::Linear& l) {
    const int64_t rows = int64_t(x.size()) / l.in;
    Vec y(size_t(rows * l.out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < l.out; ++o) {
        double s = l.bias.empty() ? 0.0 : l.bias[o];
        for (int64_t i = 0; i < l.in; ++i) s += x[r * l.in + i] * double(l.weight[o * l.in + i]);
        y[r * l.out + o] = s;
      }
    return y;
  };
  const int64_t R = B * T;
  Vec x(size_t(R * hd));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = 0; i < hd; ++i) x[r * hd + i] = w.embed[tokens[r] * hd + i];
  for (size_t li = 0; li < w.layers.size(); ++li) {
    const model::LayerWeights& L = w.layers[li];
    model::RopeConfig rc = c.rope;
    rc.theta = layers[li].rope_theta > 0 ? layers[li].rope_theta : c.rope.theta;
    const model::RopeFrequencies f = model::rope_frequencies(rc, D, c.max_position_embeddings, T);
    const Vec xn = rms(x, L.input_norm);
    Vec q = lin(xn, L.q), k = lin(xn, L.k), v = lin(xn, L.v);
    auto rotate = [&](Vec& t, int64_t heads) {
      for (int64_t r = 0; r < R; ++r)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < half; ++i) {
            const double ang = double(r % T) * double(f.inv_freq[i]);
            const double cs = std::cos(ang) * f.attention_scaling,
                         sn = std::sin(ang) * f.attention_scaling;
            double* p = t.data() + (r * heads + h) * D;
            const double a = p[i], b = p[i + half];
            p[i] = a * cs - b * sn;
            p[i + half] = b * cs + a * sn;
          }
    };
    rotate(q, H);
    rotate(k, G);
    Vec att(size_t(R * H * D), 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / (H / G);
        for (int64_t t = 0; t < T; ++t) {
          Vec s(static_cast<size_t>(T), -INFINITY);
          double mx = -INFINITY;
          for (int64_t j = 0; j <= t; ++j) {
            if (layers[li].window > 0 && t - j >= layers[li].window) continue;
            double d = 0;
            for (int64_t i = 0; i < D; ++i)
              d += q[((b * T + t) * H + h) * D + i] * k[((b * T + j) * G + g) * D + i];
            s[j] = d / std::sqrt(double(D));
            mx = std::max(mx, s[j]);
          }
          double z = 0;
          for (int64_t j = 0; j <= t; ++j) z += std::isinf(s[j]) ? 0.0 : std::exp(s[j] - mx);
          for (int64_t j = 0; j <= t; ++j) {
            if (std::isinf(s[j])) continue;
            const double p = std::exp(s[j] - mx) / z;
            for (int64_t i = 0; i < D; ++i)
              att[((b * T + t) * H + h) * D + i] += p * v[((b * T + j) * G + g) * D + i];
          }
        }
      }
    const Vec o = lin(att, L.o);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    const Vec xn2 = rms(x, L.post_norm);
    const Vec gt = lin(xn2, L.gate), up = lin(xn2, L.up);
    Vec act(gt.size());
    for (size_t i = 0; i < act.size(); ++i) act[i] = gt[i] / (1.0 + std::exp(-gt[i])) * up[i];
    (void)I;
    const Vec dn = lin(act, L.down);
    for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
  }
  const Vec xf = rms(x, w.final_norm);
  const float* head = w.lm_head_data();
  double loss = 0, wsum = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < T; ++t) {
      const int64_t r = b * T + t;
      const double wt = loss_weights[r];
      if (wt == 0) continue;
      Vec z(static_cast<size_t>(V));
      double mx = -INFINITY;
      for (int64_t u = 0; u < V; ++u) {
        double s = 0;
        for (int64_t i = 0; i < hd; ++i) s += xf[r * hd + i] * double(head[u * hd + i]);
        z[u] = s;
        mx = std::max(mx, s);
      }
      double se = 0;
      for (double s : z) se += std::exp(s - mx);
      loss += wt * (mx + std::log(se) - z[tokens[r + 1]]);
      wsum += wt;
    }
  return loss / wsum;
}

}  // namespace longctx::train::testing
