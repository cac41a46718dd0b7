// Attention of one new token over a KV cache (decoding), split over key chunks: each (KV group,
// chunk) task scores the chunk for all of the group's query heads with one small sgemm, keeps a
// partial softmax state, and the partials merge by LSE. The cache rows are read in place once;
// the general kernels would first pack every key (as much traffic again) for a single query row.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "layer_attention.hpp"
#include "longctx/attn/softmax_state.hpp"

namespace longctx::model {

void decode_attention(const ChunkQkv& c, const float* keys, const float* values,
                      const int64_t* positions, int64_t slots, int64_t window, float* out,
                      int threads) {
  const int64_t H = c.heads, G = c.kv_heads, D = c.head_dim, per_group = H / G;
  const int64_t query_pos = c.start;  // the one new token
  const float scale = 1.f / std::sqrt(float(D));
  constexpr int64_t kChunk = 512;  // keys per task: [per_group, 512] scores stay in L1/L2
  const int64_t chunks = std::max<int64_t>(1, (slots + kChunk - 1) / kChunk);
  // Partial states per (group, chunk): o [per_group, D], lse [per_group].
  std::vector<float> part_o(static_cast<size_t>(G * chunks * per_group * D));
  std::vector<float> part_lse(static_cast<size_t>(G * chunks * per_group));
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel num_threads(team)
  {
    std::vector<float> scores(static_cast<size_t>(per_group * kChunk));  // [per_group, chunk]
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t ci = 0; ci < chunks; ++ci) {
        const int64_t j0 = ci * kChunk, n = std::min(kChunk, slots - j0);
        float* o = part_o.data() + ((g * chunks + ci) * per_group) * D;
        float* lse = part_lse.data() + (g * chunks + ci) * per_group;
        std::fill(o, o + per_group * D, 0.f);
        std::fill(lse, lse + per_group, kNegInf);
        if (n <= 0) continue;
        const float* q = c.q + g * per_group * D;  // the group's heads are adjacent: [per_group, D]
        // scores [per_group, n] = scale · q · K[j0 : j0 + n, g]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(per_group), int(n), int(D), scale,
                    q, int(D), keys + (j0 * G + g) * D, int(G * D), 0.f, scores.data(), int(n));
        for (int64_t h = 0; h < per_group; ++h) {
          float* row = scores.data() + h * n;
          float m = kNegInf;
          for (int64_t j = 0; j < n; ++j) {
            const int64_t kp = positions ? positions[j0 + j] : j0 + j;
            const bool visible = kp <= query_pos && (window == 0 || kp > query_pos - window);
            if (!visible) row[j] = kNegInf;
            m = std::max(m, row[j]);
          }
          if (m == kNegInf) {  // nothing visible in this chunk: the row stays empty
            std::fill(row, row + n, 0.f);
            continue;
          }
          float sum = 0.f;
          for (int64_t j = 0; j < n; ++j) sum += row[j] = std::exp(row[j] - m);
          lse[h] = m + std::log(sum);
          for (int64_t j = 0; j < n; ++j) row[j] /= sum;
        }
        // o [per_group, D] = P [per_group, n] · V[j0 : j0 + n, g]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(per_group), int(D), int(n), 1.f,
                    scores.data(), int(n), values + (j0 * G + g) * D, int(G * D), 0.f, o, int(D));
      }
  }
  for (int64_t g = 0; g < G; ++g)
    for (int64_t h = 0; h < per_group; ++h) {
      float* dst = out + (g * per_group + h) * D;
      float lse = kNegInf;
      std::fill(dst, dst + D, 0.f);
      for (int64_t ci = 0; ci < chunks; ++ci)
        merge_row(dst, &lse, part_o.data() + ((g * chunks + ci) * per_group + h) * D,
                  part_lse[size_t((g * chunks + ci) * per_group + h)], D);
    }
}

}  // namespace longctx::model
