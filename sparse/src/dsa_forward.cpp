// DSA forward: for each (batch, KV head g, query t), the H/G query heads of the group attend to
// the keys selected for t (shared by the group).
//
// Memory locality. With k = 2048 keys spread over a long prefix, each query gathers 2048 rows of
// K and V from anywhere in the sequence; at 128K tokens one group's K and V (128 MiB in f32) are
// far larger than the caches, and the gathers would run at DRAM latency. So keys are visited in
// ranges of kRangeBytes of K + V rows (shared cache), each split into sub-ranges of
// kSubRangeBytes (a core's L2): a block of kQueryBlock queries sweeps a sub-range together, each
// query processing the part of its (ascending) selection inside it, so a gathered row is
// fetched once per query block rather than once per query. Softmax is online across the pieces
// (SPEC §1):
//   S = scale·Q·K_selᵀ (gather_dots: one key row load serves 4 heads),
//   m' = max(m, max S), P = exp(S − m'), l = l·e^(m − m') + Σ P,
//   acc = acc·e^(m − m') + P·V_sel (gather_accumulate: 4 heads × 64 columns in registers);
// at the end O = acc / l, LSE = m + log l. The per-query state (acc, m, l) of one group streams
// through memory once per range, which costs far less than the gathers it saves.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dsa_common.hpp"
#include "dsa_kernels.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/sparse/dsa.hpp"

namespace longctx::sparse {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kRangeBytes = 8 << 20;       // K + V rows of one key range (fits the L3)
constexpr int64_t kSubRangeBytes = 512 << 10;  // K + V rows of one sub-range (a quarter of L2)
constexpr int64_t kQueryBlock = 256;           // queries that sweep a sub-range together
constexpr int64_t kMinPiece = 32;              // selected keys per query and sub-range, at least

}  // namespace

namespace {

// Rows of K or V per (batch, KV head): in place for float32 with a padded head dim and unit
// column stride, else packed into padded float32 rows.
struct KeyValueRows {
  PaddedRows packed;  // empty when in place
  const TensorView* source = nullptr;
  int64_t dpad = 0, stride = 0;  // row width read and distance between rows, in floats
  const float* head_rows(int64_t b, int64_t g) const {
    if (!source) return packed.head_rows(b, g);
    return static_cast<const float*>(source->data) + b * source->stride(0) + g * source->stride(2);
  }
};

KeyValueRows key_value_rows(const TensorView& x, int threads) {
  KeyValueRows r;
  if (x.dtype == DType::f32 && x.stride(3) == 1 && padded_dim(x.dim(3)) == x.dim(3)) {
    r.source = &x;
    r.dpad = x.dim(3);
    r.stride = x.stride(1);
    return r;
  }
  r.packed = pack_padded_rows(x, true, 1.f, threads);
  r.dpad = r.packed.dpad;
  r.stride = r.dpad;
  return r;
}

}  // namespace

void dsa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 const TopkSelection& selection, const AttentionSpec& spec, const TensorView& out,
                 const TensorView& lse, const DsaOptions& options) {
  const ForwardProblem p = make_forward_problem(q, k, v, spec);
  check_forward_outputs(p, out, lse);
  check_selection(selection, p.shape);
  const AttentionShape& s = p.shape;
  const int threads = resolve_threads(options.threads);
  const int64_t group = s.group(), heads_pad = round_up(group, kRowTile);
  // Keys and values are read in place when they already are float32 rows of a padded width
  // (decoding reads k of M rows: packing all M each step would cost more than the attention).
  const KeyValueRows keys = key_value_rows(k, threads);    // [B][G][M][dpad]
  const KeyValueRows values = key_value_rows(v, threads);  // [B][G][M][dvpad]
  const int64_t dpad = keys.dpad, dvpad = values.dpad;
  const int64_t ldk = round_up(std::max<int64_t>(selection.k, 1), kColumnPad);
  LONGCTX_CHECK_ARG(options.key_range >= 0, "key_range", "0 (automatic) or a positive count",
                    options.key_range);
  // A test hook may make both small (ranges of 3 sub-ranges) to split every selection.
  const int64_t range = options.key_range > 0
                            ? 3 * options.key_range
                            : std::max<int64_t>(512, kRangeBytes / (4 * (dpad + dvpad)));
  const int64_t ranges = (s.m + range - 1) / range;
  const int64_t sub_range =
      options.key_range > 0
          ? options.key_range
          : std::min(range, std::max<int64_t>(16, kSubRangeBytes / (4 * (dpad + dvpad))));
  const int64_t query_blocks = (s.n + kQueryBlock - 1) / kQueryBlock;

  // Online-softmax state of one (batch, group): acc [N][heads_pad][dvpad], m and l [N][group].
  WorkspaceBuffer<float> acc_state(size_t(s.n * heads_pad * dvpad));
  std::vector<float> m_state(size_t(s.n * group)), l_state(size_t(s.n * group));
  std::vector<int32_t> cursor(size_t(s.n));  // next unvisited slot of each query's selection

  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      const int64_t sg = selection_group(selection, g);
      const float* k_rows = keys.head_rows(b, g);
      const float* v_rows = values.head_rows(b, g);
      std::fill(m_state.begin(), m_state.end(), kNegInf);
      std::fill(l_state.begin(), l_state.end(), 0.f);
      std::fill(cursor.begin(), cursor.end(), 0);
#pragma omp parallel num_threads(threads)
      {
        // Scaled query rows of this thread's query block, packed on first use in a range.
        std::vector<float> qrows(size_t(kQueryBlock * heads_pad * dpad), 0.f);
        std::vector<char> packed(static_cast<size_t>(kQueryBlock));
        std::vector<float> scores(size_t(heads_pad * ldk));  // [heads_pad][ldk]
#pragma omp for schedule(static)
        for (int64_t t = 0; t < s.n; ++t)
          std::fill_n(acc_state.data() + t * heads_pad * dvpad, heads_pad * dvpad, 0.f);
        for (int64_t r = 0; r < ranges; ++r) {
          const int64_t range_end = std::min(s.m, (r + 1) * range);
#pragma omp for schedule(dynamic, 1)
          for (int64_t qb = 0; qb < query_blocks; ++qb) {
            const int64_t t0 = qb * kQueryBlock, t1 = std::min(s.n, t0 + kQueryBlock);
            std::fill(packed.begin(), packed.end(), 0);
            // Long rows select few keys per sub-range; widen it so that a query's piece keeps
            // ~kMinPiece keys (fixed costs per piece: softmax bookkeeping, accumulator loads).
            const int64_t visible = std::min(s.m, t1 + s.m - s.n);
            const int64_t sub =
                options.key_range > 0
                    ? sub_range
                    : std::min(range, std::max(sub_range, kMinPiece * visible /
                                                              std::max<int64_t>(1, selection.k)));
            for (int64_t key_end = std::min(range_end, r * range + sub);;
                 key_end = std::min(range_end, key_end + sub)) {
              for (int64_t t = t0; t < t1; ++t) {
                const int32_t* idx = selection.keys(b, sg, t);
                const int64_t count = selection.size(b, sg, t);
                const int64_t i0 = cursor[size_t(t)];
                int64_t i1 = i0;
                while (i1 < count && idx[i1] < key_end) ++i1;
                if (i1 == i0) continue;
                cursor[size_t(t)] = int32_t(i1);
                const int64_t n_sel = i1 - i0;
                float* qt = qrows.data() + (t - t0) * heads_pad * dpad;  // [heads_pad][dpad]
                if (!packed[size_t(t - t0)]) {
                  packed[size_t(t - t0)] = 1;
                  for (int64_t h = 0; h < group; ++h) {
                    float* row = qt + h * dpad;
                    load_row(q, b, t, g * group + h, row);
                    for (int64_t c = 0; c < s.dim; ++c) row[c] *= p.scale;
                  }
                }
                gather_dots(qt, heads_pad, dpad, k_rows, keys.stride, idx + i0, n_sel,
                            scores.data(), ldk);
                float* acc = acc_state.data() + t * heads_pad * dvpad;  // [heads_pad][dvpad]
                for (int64_t h = 0; h < group; ++h) {
                  float* sc = scores.data() + h * ldk;
                  float& m = m_state[size_t(t * group + h)];
                  float& l = l_state[size_t(t * group + h)];
                  const float m_new = std::max(m, max_of(sc, n_sel));
                  const float rescale = m == kNegInf ? 0.f : std::exp(m - m_new);
                  l = l * rescale + exp_shift_sum(sc, n_sel, m_new);
                  m = m_new;
                  if (rescale != 1.f)
                    for (int64_t c = 0; c < dvpad; ++c) acc[h * dvpad + c] *= rescale;
                }
                // Padding heads have zero queries, hence zero scores: they add nothing.
                gather_accumulate(scores.data(), ldk, heads_pad, v_rows, values.stride, idx + i0,
                                  n_sel, dvpad, acc);
              }
              if (key_end == range_end) break;
            }
          }
        }
        // O = acc / l, LSE = m + log l; rows without keys: O = 0, LSE = −inf (SPEC §1).
#pragma omp for schedule(static)
        for (int64_t t = 0; t < s.n; ++t) {
          float* acc = acc_state.data() + t * heads_pad * dvpad;
          for (int64_t h = 0; h < group; ++h) {
            const float l = l_state[size_t(t * group + h)];
            const float inv = l > 0.f ? 1.f / l : 0.f;
            float* row = acc + h * dvpad;
            for (int64_t c = 0; c < s.dim_v; ++c) row[c] *= inv;
            store_row(row, out, b, t, g * group + h);
            lse_at(lse, b, g * group + h, t) =
                l > 0.f ? m_state[size_t(t * group + h)] + std::log(l) : kNegInf;
          }
        }
      }
    }
}

}  // namespace longctx::sparse
