// One attention test case: sizes, dtype, layout, mask, positions, options — built into random
// inputs and checked through the public API (longctx/attention.hpp) against the float64 oracle,
// forward (O, LSE) and backward (dQ, dK, dV).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "longctx/attention.hpp"
#include "test_util.hpp"

namespace longctx::test {

enum class Docs : uint8_t {
  none,
  packed,      // documents are random segments of the position axis, shared by q and k
  mismatched,  // as packed, but some queries carry a document id no key has (rows see nothing)
};

enum class PositionMode : uint8_t {
  automatic,  // spec leaves positions unset: bottom-right alignment
  offsets,    // Positions::from_offset(q_offset / k_offset)
  zigzag,     // explicit: queries in two far-apart chunks, keys contiguous (a zigzag ring step)
  random,     // explicit: unsorted random positions for both q and k
};

struct AttentionCase {
  std::string name;
  int64_t batch = 1, n = 37, m = 37, heads = 2, kv_heads = 1, dim = 64, dim_v = 0;  // 0: = dim
  DType dtype = DType::f32;
  bool heads_major = false;  // store q, k, v, dout as [B, H, N, D] (logical [B, N, H, D])
  MaskKind mask = MaskKind::full;
  std::optional<Window> window;
  Docs docs = Docs::none;
  PositionMode positions = PositionMode::automatic;
  int64_t q_offset = 0, k_offset = 0;  // for PositionMode::offsets
  float scale = 0.f;                   // 0: 1/sqrt(D)
  float input_stddev = 1.f;            // q and k are N(0, stddev); large values stress overflow
  AttentionOptions options{};          // backend, threads, block sizes
  bool backward = true;
  // Sets spec fields of later masks (global tokens, block-sparse grids) after the ones above;
  // `name` should say what it sets.
  std::function<void(AttentionSpec&)> customize_spec;

  int64_t dv() const { return dim_v ? dim_v : dim; }
  std::string describe() const;
};

// gtest prints parameters with this (a readable line instead of raw bytes).
inline void PrintTo(const AttentionCase& c, std::ostream* os) {
  *os << c.describe();
}

// Random inputs for a case. Not copyable: `spec` points into the owned id/position arrays.
struct AttentionInputs {
  AttentionInputs(const AttentionCase& c, uint64_t seed);
  AttentionInputs(const AttentionInputs&) = delete;
  AttentionInputs& operator=(const AttentionInputs&) = delete;

  Operand q, k, v, dout;                // [B,N,H,D], [B,M,G,D], [B,M,G,DV], [B,N,H,DV]
  std::vector<int32_t> q_docs, k_docs;  // [B, N], [B, M]
  std::vector<int64_t> q_pos, k_pos;    // [N], [M]
  AttentionSpec spec;
};

// Relative tolerance for a case: the dtype's tolerance, widened by the conditioning of the
// logits (an fp32 score carries an absolute error ~ eps * scale * |q| |k|, which the softmax
// turns into a relative error of O of the same size).
// LSE is float32 whatever the input dtype, so it gets the fp32 part only.
struct CaseTolerance {
  double values;  // O, dQ, dK, dV
  double lse;
  // Magnitude floors per output (see compare_rows): a tenth of the size of the terms that
  // cancel in it, e.g. dS = P (dO·v − dO·o) carries noise ~ eps |dO| |V| even where it is 0.
  double floor_out, floor_dq, floor_dk, floor_dv;
};
CaseTolerance case_tolerance(const AttentionCase& c, const AttentionInputs& in);

// Runs forward (and backward) through the public API and checks every output against the
// oracle with gtest assertions. Uses a fresh seed, printed on failure.
void check_attention_case(const AttentionCase& c);

}  // namespace longctx::test
