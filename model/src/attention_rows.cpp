// Row-wise attention mechanisms of the model runtime: the LongNet dilated mixture for any chunk
// of query rows (sparse::dilated_forward needs the whole sequence at once, which chunked
// prefill and decoding do not have) and the topk-exact selection.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "layer_attention.hpp"
#include "longctx/attn/softmax_state.hpp"
#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void dilated_rows(const std::vector<sparse::DilatedPattern>& patterns, const ChunkQkv& c,
                  const float* keys, const float* values, float* out, int threads) {
  const int64_t C = c.tokens, H = c.heads, G = c.kv_heads, D = c.head_dim, per_group = H / G;
  const float scale = 1.f / std::sqrt(float(D));
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    std::vector<float> acc(static_cast<size_t>(D)), part(static_cast<size_t>(D));  // [D] each
#pragma omp for collapse(2) schedule(dynamic, 4)
    for (int64_t t = 0; t < C; ++t) {
      for (int64_t h = 0; h < H; ++h) {
        const int64_t p = c.start + t, g = h / per_group;
        const float* q = c.q + (t * H + h) * D;
        std::fill(acc.begin(), acc.end(), 0.f);
        float lse = kNegInf;
        for (const sparse::DilatedPattern& pat : patterns) {
          const int64_t r = pat.dilation, offset = h % r, s0 = p / pat.segment * pat.segment;
          if ((p - s0) % r != offset) continue;  // this row is not on the pattern's grid
          // Online softmax over the keys s0 + offset, s0 + offset + r, ..., p.
          float m = kNegInf, sum = 0.f;
          std::fill(part.begin(), part.end(), 0.f);
          for (int64_t j = s0 + offset; j <= p; j += r) {
            const float s = scale * dot(q, keys + (j * G + g) * D, D);
            if (s > m) {
              const float shrink = std::exp(m - s);
              sum *= shrink;
              for (float& x : part) x *= shrink;
              m = s;
            }
            const float e = std::exp(s - m);
            sum += e;
            const float* vr = values + (j * G + g) * D;
            for (int64_t d = 0; d < D; ++d) part[size_t(d)] += e * vr[d];
          }
          for (float& x : part) x /= sum;
          merge_row(acc.data(), &lse, part.data(), m + std::log(sum), D);
        }
        std::copy(acc.begin(), acc.end(), out + (t * H + h) * D);
      }
    }
  }
}

sparse::TopkSelection exact_topk_selection(const ChunkQkv& c, const float* keys, const float* lse,
                                           int64_t top_k, int threads) {
  LONGCTX_CHECK_ARG(top_k > 0, "topk-exact", "K > 0", top_k);
  const int64_t C = c.tokens, H = c.heads, G = c.kv_heads, D = c.head_dim, per_group = H / G;
  const int64_t M = c.start + C;
  const float scale = 1.f / std::sqrt(float(D));
  constexpr int64_t kRows = 16;          // query rows per task: scores [16, M] stay cache-friendly
  const int64_t k = std::min(top_k, M);  // rows are -1 padded to k: never wider than M
  sparse::TopkSelection sel(1, G, C, k);
  const int64_t blocks = (C + kRows - 1) / kRows;
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    std::vector<float> scores(static_cast<size_t>(kRows * M)), probs(scores.size());  // [16, M]
    sparse::TopkScratch scratch;
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t t0 = b * kRows, rows = std::min(kRows, C - t0);
        std::fill(probs.begin(), probs.end(), 0.f);
        for (int64_t h = g * per_group; h < (g + 1) * per_group; ++h) {
          // scores [rows, M] = q_h [rows, D] · k_g [M, D]ᵀ
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(M), int(D), scale,
                      c.q + (t0 * H + h) * D, int(H * D), keys + g * D, int(G * D), 0.f,
                      scores.data(), int(M));
          for (int64_t i = 0; i < rows; ++i) {
            const int64_t visible = c.start + t0 + i + 1;  // causal: keys [0, p]
            const float row_lse = lse[h * C + t0 + i];
            for (int64_t j = 0; j < visible; ++j)
              probs[size_t(i * M + j)] += std::exp(scores[size_t(i * M + j)] - row_lse);
          }
        }
        for (int64_t i = 0; i < rows; ++i) {
          float* row = probs.data() + i * M;
          std::fill(row + c.start + t0 + i + 1, row + M, kNegInf);
          const int64_t t = t0 + i;
          const int64_t n = sparse::topk_select_row(row, M, k, sel.keys(0, g, t), scratch);
          sel.count[size_t(sel.row_id(0, g, t))] = int32_t(n);
        }
      }
    }
  }
  return sel;
}

}  // namespace longctx::model
