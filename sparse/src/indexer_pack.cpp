// Packing of the lightning indexer's operands into the kernels' layouts (indexer_kernel.hpp),
// including the int8 quantization: one scale per 32-element block, scale = max|x| / 127,
// values round(x / scale) in [−127, 127] (symmetric, so products never overflow int16 pairs).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "indexer_kernel.hpp"

namespace longctx::sparse {
namespace {

// Quantizes x[0, n) (n a multiple of 32) into values and per-block scales.
void quantize_blocks(const float* x, int64_t n, int16_t* values, float* scales) {
  for (int64_t blk = 0; blk < n / kIndexerQuantBlock; ++blk) {
    const float* xb = x + blk * kIndexerQuantBlock;
    float amax = 0.f;
    for (int64_t c = 0; c < kIndexerQuantBlock; ++c) amax = std::max(amax, std::fabs(xb[c]));
    const float scale = amax / 127.f;
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    scales[blk] = scale;
    for (int64_t c = 0; c < kIndexerQuantBlock; ++c)
      values[blk * kIndexerQuantBlock + c] =
          int16_t(std::clamp(std::nearbyint(xb[c] * inv), -127.f, 127.f));
  }
}

void load_row(const TensorView& x, int64_t i0, int64_t i1, int64_t i2, float* dst) {
  for (int64_t c = 0; c < x.dim(3); ++c) dst[c] = x.load(i0, i1, i2, c);
}

}  // namespace

void pack_indexer_keys(const TensorView& k, int64_t b, int64_t s, IndexerPrecision precision,
                       PackedIndexerKeys& out, int threads) {
  const int64_t m = k.dim(1), dim = k.dim(3);
  out.keys = m;
  out.dim = dim;
  out.panels = (m + kKeyPanel - 1) / kKeyPanel;
  const size_t floats = size_t(out.panels * dim * kKeyPanel);
  const int64_t blocks = dim / kIndexerQuantBlock;
  const bool vnni = precision == IndexerPrecision::int8 && indexer_uses_vnni();
  if (precision == IndexerPrecision::f32) {
    out.f32.assign(floats, 0.f);
  } else {
    if (vnni) {
      out.u8.assign(floats, 128);  // padding keys: value 0
    } else {
      out.i16.assign(floats, 0);
    }
    out.scale.assign(size_t(out.panels * blocks * kKeyPanel), 0.f);
  }
  // Keys write disjoint lanes of the panels: any split over threads is race-free.
#pragma omp parallel num_threads(threads) if (threads > 1 && m >= 4096)
  {
    std::vector<float> row(static_cast<size_t>(dim));
    std::vector<int16_t> qrow(static_cast<size_t>(dim));
#pragma omp for schedule(static)
    for (int64_t j = 0; j < m; ++j) {
      const int64_t p = j / kKeyPanel, lane = j % kKeyPanel;
      load_row(k, b, j, s, row.data());
      if (precision == IndexerPrecision::f32) {
        float* panel = out.f32.data() + p * dim * kKeyPanel;  // [dim][16]
        for (int64_t c = 0; c < dim; ++c) panel[c * kKeyPanel + lane] = row[size_t(c)];
      } else {
        float scales[kMaxIndexerDim / kIndexerQuantBlock];
        quantize_blocks(row.data(), dim, qrow.data(), scales);
        if (vnni) {
          uint8_t* panel = out.u8.data() + p * dim * kKeyPanel;  // [dim/4][16][4]
          for (int64_t c = 0; c < dim; ++c)
            panel[(c / 4) * 4 * kKeyPanel + lane * 4 + (c % 4)] = uint8_t(qrow[size_t(c)] + 128);
        } else {
          int16_t* panel = out.i16.data() + p * dim * kKeyPanel;  // [dim/2][16][2]
          for (int64_t c = 0; c < dim; ++c)
            panel[(c / 2) * 2 * kKeyPanel + lane * 2 + (c % 2)] = qrow[size_t(c)];
        }
        float* sp = out.scale.data() + p * blocks * kKeyPanel;  // [blocks][16]
        for (int64_t blk = 0; blk < blocks; ++blk) sp[blk * kKeyPanel + lane] = scales[blk];
      }
    }
  }
}

void pack_indexer_query(const IndexerInputs& in, int64_t b, int64_t s, int64_t t,
                        IndexerPrecision precision, PackedIndexerQuery& out) {
  const int64_t heads = in.heads(), dim = in.dim();
  const int64_t hp = round_up(heads, kHeadTile);
  out.heads_padded = hp;
  out.dim = dim;
  out.w.assign(size_t(hp), 0.f);
  std::vector<float>& rows = out.f32;
  rows.assign(size_t(hp * dim), 0.f);
  for (int64_t j = 0; j < heads; ++j) {
    load_row(in.q, b, t, s * heads + j, rows.data() + j * dim);
    out.w[size_t(j)] = in.w.load(b, t, s, j);
  }
  if (precision == IndexerPrecision::int8) {
    const int64_t blocks = dim / kIndexerQuantBlock;
    out.i16.assign(size_t(hp * dim), 0);
    out.scale.assign(size_t(hp * blocks), 0.f);
    for (int64_t j = 0; j < heads; ++j)
      quantize_blocks(rows.data() + j * dim, dim, out.i16.data() + j * dim,
                      out.scale.data() + j * blocks);
    // vpdpbusd multiplies the biased keys (k + 128): subtract 128 · Σ q per block afterwards.
    out.bias.assign(size_t(hp * blocks), 0);
    for (int64_t j = 0; j < hp; ++j)
      for (int64_t c = 0; c < dim; ++c)
        out.bias[size_t(j * blocks + c / kIndexerQuantBlock)] += 128 * out.i16[size_t(j * dim + c)];
    // The same values as bytes, four per int32: the broadcast operand of vpdpbusd.
    out.quads.assign(size_t(hp * dim / 4), 0);
    for (int64_t j = 0; j < hp; ++j)
      for (int64_t g = 0; g < dim / 4; ++g) {
        int8_t bytes[4];
        for (int64_t c = 0; c < 4; ++c) bytes[c] = int8_t(out.i16[size_t(j * dim + 4 * g + c)]);
        std::memcpy(&out.quads[size_t(j * dim / 4 + g)], bytes, 4);
      }
  }
}

}  // namespace longctx::sparse
