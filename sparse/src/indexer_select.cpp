// The lightning indexer driver: validation, the float64 oracle of the scores, and
// indexer_select, which scores blocks of queries against their visible keys and keeps the top k
// of each row (topk_select_row). Memory: per thread one [block_q, M] score buffer; keys are
// packed once per (batch, selection group).
//
// Work order: query blocks of kBlockQ rows, largest causal rows first (dynamic schedule, so
// the threads finish together); inside a block, keys in chunks of kKeyChunk (a chunk of packed
// keys stays in L2 while every query of the block reads it).
#include <omp.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>

#include "indexer_kernel.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/threads.hpp"
#include "visible_keys.hpp"

namespace longctx::sparse {
namespace {

constexpr int64_t kBlockQ = 32;
constexpr int64_t kKeyChunk = 1024;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void check_rank4(const TensorView& t, const char* name, const char* shape) {
  LONGCTX_CHECK_ARG(t.data != nullptr && t.rank == 4, name, "a 4-d tensor " << shape,
                    (t.data ? "rank " + std::to_string(t.rank) : std::string("no data")));
  LONGCTX_CHECK_ARG(t.dtype != DType::f64, name, "dtype f32, bf16 or f16", dtype_name(t.dtype));
}

}  // namespace

void check_indexer_inputs(const IndexerInputs& in, int64_t batch, int64_t n, int64_t m,
                          int64_t kv_heads) {
  check_rank4(in.q, "indexer_q", "[B, N, S*H_I, d_I]");
  check_rank4(in.k, "indexer_k", "[B, M, S, d_I]");
  check_rank4(in.w, "indexer_w", "[B, N, S, H_I]");
  const int64_t s = in.groups(), heads = in.heads(), dim = in.dim();
  LONGCTX_CHECK_ARG(in.k.dim(0) == batch && in.k.dim(1) == m, "indexer_k",
                    "[B, M, S, d_I] with B = " << batch << ", M = " << m, in.k.shape_string());
  LONGCTX_CHECK_ARG(
      s == 1 || s == kv_heads, "indexer_k",
      "S = 1 (one selection for all heads) or S = G = " << kv_heads << " selection groups",
      "S = " << s);
  LONGCTX_CHECK_ARG(heads >= 1 && heads <= kMaxIndexerHeads, "indexer_heads",
                    "H_I in [1, " << kMaxIndexerHeads << "]", heads);
  LONGCTX_CHECK_ARG(
      dim >= kIndexerQuantBlock && dim <= kMaxIndexerDim && dim % kIndexerQuantBlock == 0,
      "indexer_dim",
      "d_I a multiple of " << kIndexerQuantBlock << " in [" << kIndexerQuantBlock << ", "
                           << kMaxIndexerDim << "]",
      dim);
  LONGCTX_CHECK_ARG(in.k.dim(3) == dim, "indexer_k", "d_I = " << dim << " as indexer_q",
                    in.k.shape_string());
  LONGCTX_CHECK_ARG(
      in.q.dim(0) == batch && in.q.dim(1) == n && in.q.dim(2) == s * heads, "indexer_q",
      "[B, N, S*H_I, d_I] = [" << batch << ", " << n << ", " << s * heads << ", " << dim << "]",
      in.q.shape_string());
  LONGCTX_CHECK_ARG(in.w.dim(0) == batch && in.w.dim(1) == n && in.w.dim(2) == s, "indexer_w",
                    "[B, N, S, H_I] = [" << batch << ", " << n << ", " << s << ", " << heads << "]",
                    in.w.shape_string());
}

std::vector<double> indexer_scores_reference(const IndexerInputs& in, const AttentionSpec& spec,
                                             int64_t b, int64_t s, int64_t t) {
  const int64_t n = in.q.dim(1), m = in.k.dim(1), heads = in.heads(), dim = in.dim();
  const ResolvedMask mask = resolve_mask(spec, n, m);
  std::vector<double> scores(size_t(m), -std::numeric_limits<double>::infinity());
  for (int64_t j = 0; j < m; ++j) {
    if (!mask.visible(b, t, j)) continue;
    double sum = 0.0;
    for (int64_t h = 0; h < heads; ++h) {
      double dot = 0.0;
      for (int64_t c = 0; c < dim; ++c)
        dot += double(in.q.load(b, t, s * heads + h, c)) * double(in.k.load(b, j, s, c));
      sum += double(in.w.load(b, t, s, h)) * std::max(dot, 0.0);
    }
    scores[size_t(j)] = sum;
  }
  return scores;
}

std::vector<float> indexer_scores_row(const IndexerInputs& in, const AttentionSpec& spec, int64_t b,
                                      int64_t s, int64_t t, IndexerPrecision precision) {
  const int64_t n = in.q.dim(1), m = in.k.dim(1);
  const ResolvedMask mask = resolve_mask(spec, n, m);
  PackedIndexerKeys keys;
  pack_indexer_keys(in.k, b, s, precision, keys);
  PackedIndexerQuery query;
  pack_indexer_query(in, b, s, t, precision, query);
  std::vector<float> scores(size_t(round_up(m, kKeyPanel)), kNegInf);
  indexer_scores(query, keys, 0, m, precision, scores.data());
  scores.resize(size_t(m));
  for (int64_t j = 0; j < m; ++j)
    if (!mask.visible(b, t, j)) scores[size_t(j)] = kNegInf;
  return scores;
}

TopkSelection indexer_select(const IndexerInputs& in, const AttentionSpec& spec, int64_t top_k,
                             const IndexerOptions& options) {
  LONGCTX_CHECK_ARG(top_k > 0, "top_k", "a positive number of keys per query", top_k);
  LONGCTX_CHECK_ARG(in.q.rank == 4 && in.k.rank == 4, "indexer_q",
                    "4-d indexer_q [B, N, S*H_I, d_I] and indexer_k [B, M, S, d_I]",
                    "ranks " << in.q.rank << ", " << in.k.rank);
  const int64_t batch = in.q.dim(0), n = in.q.dim(1), m = in.k.dim(1), groups = in.k.dim(2);
  // S is either 1 or G; G is not known here, so accept the indexer's own S.
  check_indexer_inputs(in, batch, n, m, groups);
  const ResolvedMask mask = resolve_mask(spec, n, m);
  const bool spans = has_key_ranges(mask);
  const int64_t width = std::min(top_k, m);
  TopkSelection sel(batch, groups, n, width);
  const int threads = resolve_threads(options.threads);
  const int64_t blocks = (n + kBlockQ - 1) / kBlockQ;
  const int64_t score_stride = round_up(m, kKeyPanel) + kKeyPanel;
  PackedIndexerKeys keys;

  // Top-k of one score row (masked entries set to −inf first when the mask is not a range).
  auto select_row = [&](int64_t b, int64_t s, int64_t t, float* row, const KeyRange& kr,
                        TopkScratch& scratch) {
    if (!spans)
      for (int64_t j = 0; j < m; ++j)
        if (!mask.visible(b, t, j)) row[j] = kNegInf;
    int32_t* out = sel.keys(b, s, t);
    const int64_t found =
        kr.size() > 0 ? topk_select_row(row + kr.begin, kr.size(), width, out, scratch) : 0;
    for (int64_t i = 0; i < found; ++i) out[i] += int32_t(kr.begin);
    sel.count[size_t(sel.row_id(b, s, t))] = int32_t(found);
  };

  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < groups; ++s) {
      const double pack_start = omp_get_wtime();
      pack_indexer_keys(in.k, b, s, options.precision, keys, threads);
      if (options.profile) options.profile->pack_s += omp_get_wtime() - pack_start;
      double scores_s = 0.0, topk_s = 0.0;
      if (blocks < threads) {
        // Decoding and short chunks: too few query blocks to share, so the threads split the
        // keys (chunks aligned to the 16-key panels the score kernel writes whole).
        const double start = omp_get_wtime();
        std::unique_ptr<float[]> scores(new float[size_t(n * score_stride)]);  // [N, M]
        std::vector<PackedIndexerQuery> queries(static_cast<size_t>(n));
        std::vector<KeyRange> ranges(static_cast<size_t>(n));
        int64_t lo = m, hi = 0;
        for (int64_t t = 0; t < n; ++t) {
          pack_indexer_query(in, b, s, t, options.precision, queries[size_t(t)]);
          ranges[size_t(t)] = visible_key_range(mask, t);
          if (ranges[size_t(t)].size() > 0) {
            lo = std::min(lo, ranges[size_t(t)].begin);
            hi = std::max(hi, ranges[size_t(t)].end);
          }
        }
        const int64_t first = lo / kKeyPanel * kKeyPanel;
        const int64_t chunks = hi > lo ? (hi - first + kKeyChunk - 1) / kKeyChunk : 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (int64_t ci = 0; ci < chunks; ++ci) {
          const int64_t c0 = first + ci * kKeyChunk;
          for (int64_t t = 0; t < n; ++t) {
            const KeyRange& kr = ranges[size_t(t)];
            const int64_t begin = std::max(kr.begin, c0), end = std::min(kr.end, c0 + kKeyChunk);
            if (begin < end)
              indexer_scores(queries[size_t(t)], keys, begin, end, options.precision,
                             scores.get() + t * score_stride);
          }
        }
        const double scored = omp_get_wtime();
#pragma omp parallel num_threads(threads)
        {
          TopkScratch scratch;
#pragma omp for schedule(dynamic, 1)
          for (int64_t t = 0; t < n; ++t)
            select_row(b, s, t, scores.get() + t * score_stride, ranges[size_t(t)], scratch);
        }
        if (options.profile) {
          options.profile->scores_s += (scored - start) * threads;
          options.profile->topk_s += (omp_get_wtime() - scored) * threads;
        }
        continue;
      }
#pragma omp parallel num_threads(threads) reduction(+ : scores_s, topk_s)
      {
        // [block_q, M], not zeroed (every visible entry is written before it is read).
        std::unique_ptr<float[]> scores(new float[size_t(std::min(kBlockQ, n) * score_stride)]);
        std::vector<PackedIndexerQuery> queries(static_cast<size_t>(kBlockQ));
        std::vector<KeyRange> ranges(static_cast<size_t>(kBlockQ));
        TopkScratch scratch;
#pragma omp for schedule(dynamic, 1)
        for (int64_t rb = 0; rb < blocks; ++rb) {
          const int64_t qb = blocks - 1 - rb;  // the longest causal rows first
          const double block_start = omp_get_wtime();
          const int64_t t0 = qb * kBlockQ, rows = std::min(kBlockQ, n - t0);
          int64_t lo = m, hi = 0;
          for (int64_t r = 0; r < rows; ++r) {
            pack_indexer_query(in, b, s, t0 + r, options.precision, queries[size_t(r)]);
            ranges[size_t(r)] = visible_key_range(mask, t0 + r);
            if (ranges[size_t(r)].size() > 0) {
              lo = std::min(lo, ranges[size_t(r)].begin);
              hi = std::max(hi, ranges[size_t(r)].end);
            }
          }
          for (int64_t c0 = lo; c0 < hi; c0 += kKeyChunk)
            for (int64_t r = 0; r < rows; ++r) {
              const KeyRange& kr = ranges[size_t(r)];
              const int64_t begin = std::max(kr.begin, c0), end = std::min(kr.end, c0 + kKeyChunk);
              if (begin < end)
                indexer_scores(queries[size_t(r)], keys, begin, end, options.precision,
                               scores.get() + r * score_stride);
            }
          const double scored = omp_get_wtime();
          scores_s += scored - block_start;
          for (int64_t r = 0; r < rows; ++r)
            select_row(b, s, t0 + r, scores.get() + r * score_stride, ranges[size_t(r)], scratch);
          topk_s += omp_get_wtime() - scored;
        }
      }
      if (options.profile) {
        options.profile->scores_s += scores_s;
        options.profile->topk_s += topk_s;
      }
    }
  return sel;
}

}  // namespace longctx::sparse
