// DsaCase (dsa_case.hpp): random DSA inputs and timed stages.
#include "dsa_case.hpp"

#include <cmath>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/timer.hpp"

namespace longctx::app {

void validate_dsa_config(const DsaConfig& c) {
  LONGCTX_CHECK_ARG(c.top_k >= 1, "--topk", "a positive number of keys per query", c.top_k);
  LONGCTX_CHECK_ARG(c.indexer_heads >= 1 && c.indexer_heads <= sparse::kMaxIndexerHeads,
                    "--indexer-heads", "an integer in [1, " << sparse::kMaxIndexerHeads << "]",
                    c.indexer_heads);
  LONGCTX_CHECK_ARG(
      c.indexer_dim >= sparse::kIndexerQuantBlock && c.indexer_dim <= sparse::kMaxIndexerDim &&
          c.indexer_dim % sparse::kIndexerQuantBlock == 0,
      "--indexer-dim",
      "a multiple of " << sparse::kIndexerQuantBlock << " in [" << sparse::kIndexerQuantBlock
                       << ", " << sparse::kMaxIndexerDim << "]",
      c.indexer_dim);
  const int64_t g = c.attn.kv_heads ? c.attn.kv_heads : c.attn.heads;
  LONGCTX_CHECK_ARG(c.indexer_groups == 1 || c.indexer_groups == g, "--indexer-groups",
                    "1 (one selection shared by all heads) or G = " << g << " (one per KV head)",
                    c.indexer_groups);
}

DsaCase::DsaCase(const DsaConfig& config) : config_(config) {
  AttnConfig& a = config_.attn;
  a.resolve_defaults();
  a.mask = MaskKind::causal;
  validate_dsa_config(config_);
  spec_ = a.spec();
  Rng rng(a.seed);
  q_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq, a.heads, a.dim);
  k_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq_k, a.kv_heads, a.dim);
  v_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq_k, a.kv_heads, a.dim_v);
  out_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq, a.heads, a.dim_v);
  lse_ = Tensor(DType::f32, {a.batch, a.heads, a.seq});
  out_.storage.zero();  // fault the pages in now, not inside the first timed forward
  fill_normal(q_.view, rng);
  fill_normal(k_.view, rng);
  fill_normal(v_.view, rng);
  const int64_t s = config_.indexer_groups, hi = config_.indexer_heads, di = config_.indexer_dim;
  iq_ = Tensor(DType::f32, {a.batch, a.seq, s * hi, di});
  ik_ = Tensor(DType::f32, {a.batch, a.seq_k, s, di});
  iw_ = Tensor(DType::f32, {a.batch, a.seq, s, hi});
  fill_normal(iq_.view(), rng);
  fill_normal(ik_.view(), rng);
  // Head weights ~ N(0, 1/H_I) so that I keeps the scale of one head's term.
  fill_normal(iw_.view(), rng, float(1.0 / std::sqrt(double(hi))));
}

sparse::TopkSelection DsaCase::select(sparse::IndexerPrecision precision,
                                      sparse::IndexerProfile* profile) const {
  sparse::IndexerOptions o;
  o.precision = precision;
  o.threads = config_.attn.threads;
  o.profile = profile;
  return sparse::indexer_select(indexer(), spec_, config_.top_k, o);
}

DsaForwardTiming DsaCase::run_forward() {
  DsaForwardTiming t;
  Stopwatch sw;
  selection_ =
      select(config_.quantized ? sparse::IndexerPrecision::int8 : sparse::IndexerPrecision::f32,
             &t.profile);
  t.select_ms = sw.elapsed_ms();
  sw.restart();
  sparse::DsaOptions o;
  o.threads = config_.attn.threads;
  sparse::dsa_forward(q_.view, k_.view, v_.view, selection_, spec_, out_.view, lse_.view(), o);
  t.attention_ms = sw.elapsed_ms();
  has_forward_ = true;
  return t;
}

double DsaCase::run_backward() {
  if (!has_forward_) run_forward();
  const AttnConfig& a = config_.attn;
  if (dq_.view.empty()) {
    dout_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq, a.heads, a.dim_v);
    dq_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq, a.heads, a.dim);
    dk_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq_k, a.kv_heads, a.dim);
    dv_ = make_laid_tensor(a.dtype, a.layout, a.batch, a.seq_k, a.kv_heads, a.dim_v);
    Rng rng(a.seed + 17);
    fill_normal(dout_.view, rng);
  }
  sparse::DsaOptions o;
  o.threads = a.threads;
  Stopwatch sw;
  sparse::dsa_backward(q_.view, k_.view, v_.view, out_.view, lse_.view(), dout_.view, selection_,
                       spec_, dq_.view, dk_.view, dv_.view, o);
  return sw.elapsed_ms();
}

double DsaCase::quantized_recall() {
  const sparse::TopkSelection exact = select(sparse::IndexerPrecision::f32, nullptr);
  const sparse::TopkSelection approx = select(sparse::IndexerPrecision::int8, nullptr);
  return sparse::topk_recall(exact, approx);
}

}  // namespace longctx::app
