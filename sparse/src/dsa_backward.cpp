// DSA backward (SPEC §1 restricted to the selected keys): with S = scale·q·k over the selected
// keys, P = exp(S − LSE), D = rowsum(dO ∘ O):
//   dP = dO·Vᵀ, dS = P ∘ (dP − D), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO.
// Pass 1 (per batch, KV head, query): dQ of the group's heads, gathering the selected K and V
// rows. Pass 2 (per batch, KV head, key): dK and dV of the key from the queries that selected it
// (the transposed selection, ascending), recomputing S and dP for those pairs. Each output row
// has one owner and a fixed summation order: race-free and independent of the thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsa_common.hpp"
#include "dsa_kernels.hpp"
#include "dsa_transpose.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/sparse/dsa.hpp"

namespace longctx::sparse {
namespace {

// D[b, h, t] = dO · O, float32 [B, H, N].
std::vector<float> row_dot_dout_out(const TensorView& out, const TensorView& dout,
                                    const AttentionShape& s, int threads) {
  std::vector<float> d(size_t(s.batch * s.heads * s.n));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> o(size_t(s.dim_v)), g(size_t(s.dim_v));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < s.batch * s.n; ++r) {
      const int64_t b = r / s.n, t = r % s.n;
      for (int64_t h = 0; h < s.heads; ++h) {
        load_row(out, b, t, h, o.data());
        load_row(dout, b, t, h, g.data());
        double sum = 0.0;
        for (int64_t c = 0; c < s.dim_v; ++c) sum += double(o[size_t(c)]) * g[size_t(c)];
        d[size_t((b * s.heads + h) * s.n + t)] = float(sum);
      }
    }
  }
  return d;
}

}  // namespace

void dsa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const TopkSelection& selection, const AttentionSpec& spec, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv, const DsaOptions& options) {
  const BackwardProblem bp = make_backward_problem(q, k, v, out, lse, dout, spec);
  check_backward_outputs(bp, dq, dk, dv);
  const ForwardProblem& p = bp.fwd;
  const AttentionShape& s = p.shape;
  check_selection(selection, s);
  const int threads = resolve_threads(options.threads);
  const int64_t group = s.group(), heads_pad = round_up(group, kRowTile);
  // Padding heads of the last group read past the last token: give them zero rows.
  const PaddedRows keys = pack_padded_rows(k, true, 1.f, threads);    // [B][G][M][dpad]
  const PaddedRows values = pack_padded_rows(v, true, 1.f, threads);  // [B][G][M][dvpad]
  const PaddedRows qs = pack_padded_rows(q, false, p.scale, threads, heads_pad);  // [B][N][H][dpad]
  const PaddedRows gs = pack_padded_rows(dout, false, 1.f, threads, heads_pad);  // [B][N][H][dvpad]
  const int64_t dpad = keys.dpad, dvpad = values.dpad;
  const std::vector<float> d_rows = row_dot_dout_out(out, dout, s, threads);  // [B, H, N]
  const auto d_at = [&](int64_t b, int64_t h, int64_t t) {
    return d_rows[size_t((b * s.heads + h) * s.n + t)];
  };
  const int64_t ldk = round_up(std::max<int64_t>(selection.k, 1), kColumnPad);

  // Pass 1: dQ.
  const int64_t q_tasks = s.batch * s.kv_heads * s.n;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> qrows(size_t(heads_pad * dpad), 0.f);   // [heads_pad][dpad]
    std::vector<float> grows(size_t(heads_pad * dvpad), 0.f);  // [heads_pad][dvpad]
    std::vector<float> sc(size_t(heads_pad * ldk)), dp(size_t(heads_pad * ldk));
    std::vector<float> acc(size_t(heads_pad * dpad));
#pragma omp for schedule(dynamic, 16)
    for (int64_t task = 0; task < q_tasks; ++task) {
      const int64_t b = task / (s.kv_heads * s.n), g = (task / s.n) % s.kv_heads, t = task % s.n;
      const int64_t sg = selection_group(selection, g);
      const int32_t* idx = selection.keys(b, sg, t);
      const int64_t count = selection.size(b, sg, t);
      std::fill(acc.begin(), acc.end(), 0.f);
      if (count > 0) {
        std::copy_n(qs.token_rows(b, t) + g * group * dpad, group * dpad, qrows.data());
        std::copy_n(gs.token_rows(b, t) + g * group * dvpad, group * dvpad, grows.data());
        gather_dots(qrows.data(), heads_pad, dpad, keys.head_rows(b, g), dpad, idx, count,
                    sc.data(), ldk);
        gather_dots(grows.data(), heads_pad, dvpad, values.head_rows(b, g), dvpad, idx, count,
                    dp.data(), ldk);
        for (int64_t h = 0; h < heads_pad; ++h) {
          float* ds = sc.data() + h * ldk;
          if (h >= group) {  // padding heads: no gradient
            std::fill(ds, ds + count, 0.f);
            continue;
          }
          const float l = lse_at(lse, b, g * group + h, t), dd = d_at(b, g * group + h, t);
          const float* dpr = dp.data() + h * ldk;
          for (int64_t r = 0; r < count; ++r) ds[r] = std::exp(ds[r] - l) * (dpr[r] - dd);
        }
        gather_accumulate(sc.data(), ldk, heads_pad, keys.head_rows(b, g), dpad, idx, count, dpad,
                          acc.data());
      }
      for (int64_t h = 0; h < group; ++h) {
        float* row = acc.data() + h * dpad;
        for (int64_t c = 0; c < s.dim; ++c) row[c] *= p.scale;
        store_row(row, dq, b, t, g * group + h);
      }
    }
  }

  // Pass 2: dK, dV, by key.
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t sg = 0; sg < selection.groups; ++sg) {
      const KeyToQueries kq = transpose_selection(selection, b, sg, s.m);
      // The KV heads that read this selection group: all of them in MQA mode, else g = sg.
      const int64_t g0 = selection.groups == 1 ? 0 : sg;
      const int64_t g1 = selection.groups == 1 ? s.kv_heads : sg + 1;
      const int64_t k_tasks = (g1 - g0) * s.m;
#pragma omp parallel num_threads(threads)
      {
        std::vector<float> sc, dp;  // [queries][heads_pad]
        std::vector<float> dk_row(static_cast<size_t>(dpad)), dv_row(static_cast<size_t>(dvpad));
#pragma omp for schedule(dynamic, 32)
        for (int64_t task = 0; task < k_tasks; ++task) {
          const int64_t g = g0 + task / s.m, j = task % s.m;
          const int64_t count = kq.size(j);
          const int32_t* list = kq.begin(j);
          std::fill(dk_row.begin(), dk_row.end(), 0.f);
          std::fill(dv_row.begin(), dv_row.end(), 0.f);
          if (count > 0) {
            sc.resize(size_t(count * heads_pad));
            dp.resize(size_t(count * heads_pad));
            const float* q_base = qs.token_rows(b, 0) + g * group * dpad;
            const float* g_base = gs.token_rows(b, 0) + g * group * dvpad;
            const float* k_row = keys.head_rows(b, g) + j * dpad;
            const float* v_row = values.head_rows(b, g) + j * dvpad;
            row_dots(k_row, q_base, s.heads * dpad, list, count, heads_pad, dpad, sc.data());
            row_dots(v_row, g_base, s.heads * dvpad, list, count, heads_pad, dvpad, dp.data());
            for (int64_t i = 0; i < count; ++i)
              for (int64_t h = 0; h < group; ++h) {
                const int64_t t = list[i], e = i * heads_pad + h;
                const float prob = std::exp(sc[size_t(e)] - lse_at(lse, b, g * group + h, t));
                sc[size_t(e)] = prob * (dp[size_t(e)] - d_at(b, g * group + h, t));  // dS
                dp[size_t(e)] = prob;                                                // P
              }
            // Q rows are pre-scaled, so Σ dS·(scale·q) is dK.
            row_accumulate(sc.data(), q_base, s.heads * dpad, list, count, group, heads_pad, dpad,
                           dk_row.data());
            row_accumulate(dp.data(), g_base, s.heads * dvpad, list, count, group, heads_pad, dvpad,
                           dv_row.data());
          }
          store_row(dk_row.data(), dk, b, j, g);
          store_row(dv_row.data(), dv, b, j, g);
        }
      }
    }
}

}  // namespace longctx::sparse
