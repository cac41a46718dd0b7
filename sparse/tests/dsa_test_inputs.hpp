// Shared inputs of the DSA tests: random attention operands plus lightning-indexer operands for
// one case, and helpers to compare against the float64 oracles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "longctx/attn/mask.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/sparse/indexer.hpp"
#include "test_util.hpp"

namespace longctx::test {

struct DsaCase {
  int64_t batch = 1, n = 37, m = 37, heads = 4, kv_heads = 2, dim = 64, dim_v = 0;
  int64_t groups = 1;  // S: 1 (MQA) or kv_heads
  int64_t indexer_heads = 3, indexer_dim = 32;
  int64_t top_k = 8;
  DType dtype = DType::f32;
  bool causal = true;
  int64_t dv() const { return dim_v ? dim_v : dim; }
  std::string describe() const {
    return "B=" + std::to_string(batch) + " N=" + std::to_string(n) + " M=" + std::to_string(m) +
           " H=" + std::to_string(heads) + " G=" + std::to_string(kv_heads) +
           " D=" + std::to_string(dim) + " S=" + std::to_string(groups) +
           " H_I=" + std::to_string(indexer_heads) + " d_I=" + std::to_string(indexer_dim) +
           " k=" + std::to_string(top_k) + " " + std::string(dtype_name(dtype));
  }
};

struct DsaInputs {
  DsaInputs(const DsaCase& c, uint64_t seed) : rng(seed) {
    q = random_operand(c.dtype, c.batch, c.n, c.heads, c.dim, rng);
    k = random_operand(c.dtype, c.batch, c.m, c.kv_heads, c.dim, rng);
    v = random_operand(c.dtype, c.batch, c.m, c.kv_heads, c.dv(), rng);
    dout = random_operand(c.dtype, c.batch, c.n, c.heads, c.dv(), rng);
    iq = random_operand(DType::f32, c.batch, c.n, c.groups * c.indexer_heads, c.indexer_dim, rng);
    ik = random_operand(DType::f32, c.batch, c.m, c.groups, c.indexer_dim, rng);
    iw = random_operand(DType::f32, c.batch, c.n, c.groups, c.indexer_heads, rng);
    spec.mask = c.causal ? MaskKind::causal : MaskKind::full;
  }
  sparse::IndexerInputs indexer() const { return {iq.view, ik.view, iw.view}; }

  Rng rng;
  Operand q, k, v, dout, iq, ik, iw;
  AttentionSpec spec;
};

}  // namespace longctx::test
