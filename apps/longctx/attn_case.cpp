// AttnCase: allocation in either memory layout, seeded inputs, timed API calls, FLOP counts.
#include "attn_case.hpp"

#include <cmath>

#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/core/timer.hpp"

namespace longctx::app {

Layout parse_layout(const std::string& text) {
  if (text == "bnhd") return Layout::bnhd;
  if (text == "bhnd") return Layout::bhnd;
  throw ArgumentError("--layout", "bnhd or bhnd", "'" + text + "'");
}

const char* layout_name(Layout l) {
  return l == Layout::bnhd ? "bnhd" : "bhnd";
}

AttnConfig& AttnConfig::resolve_defaults() {
  if (seq_k == 0) seq_k = seq;
  if (kv_heads == 0) kv_heads = heads;
  if (dim_v == 0) dim_v = dim;
  return *this;
}

AttentionSpec AttnConfig::spec() const {
  AttentionSpec s;
  s.mask = mask;
  s.window = window;
  s.global_tokens = global_tokens;
  s.block_sparse = block_sparse.get();
  return s;
}

AttentionOptions AttnConfig::options() const {
  AttentionOptions o;
  o.backend = backend;
  o.threads = threads;
  o.block_q = block_q;
  o.block_k = block_k;
  return o;
}

std::string AttnConfig::mask_description() const {
  return spec().describe();
}

FlopCount attention_flops(const AttnConfig& c) {
  FlopCount f;
  if (c.dilated) {  // pairs computed per head, averaged over the heads' offsets
    f.visible_pairs = sparse::dilated_pair_count(*c.dilated, c.seq, c.heads) * c.batch / c.heads;
  } else {
    f.visible_pairs = count_visible_pairs(resolve_mask(c.spec(), c.seq, c.seq_k), c.batch);
  }
  const double pairs = double(f.visible_pairs);
  f.forward = 2.0 * pairs * double(c.heads) * double(c.dim + c.dim_v);
  f.backward = 2.5 * f.forward;
  return f;
}

double naive_score_bytes(const AttnConfig& c) {
  return double(c.batch) * double(c.heads) * double(c.seq) * double(c.seq_k) * sizeof(float);
}

LaidTensor make_laid_tensor(DType dtype, Layout layout, int64_t b, int64_t rows, int64_t heads,
                            int64_t dim) {
  LaidTensor t;
  if (layout == Layout::bnhd) {
    t.storage = Tensor(dtype, {b, rows, heads, dim});
    t.view = t.storage.view();
  } else {
    t.storage = Tensor(dtype, {b, heads, rows, dim});  // physical [B, H, rows, D]
    t.view = t.storage.view().permuted({0, 2, 1, 3});  // logical [B, rows, H, D]
  }
  return t;
}

AttnCase::AttnCase(AttnConfig config) : config_(config.resolve_defaults()) {
  const AttnConfig& c = config_;
  spec_ = c.spec();
  options_ = c.options();
  q_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq, c.heads, c.dim);         // [B, N, H, D]
  k_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq_k, c.kv_heads, c.dim);    // [B, M, G, D]
  v_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq_k, c.kv_heads, c.dim_v);  // [B, M, G, DV]
  out_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq, c.heads, c.dim_v);     // [B, N, H, DV]
  lse_ = Tensor(DType::f32, {c.batch, c.heads, c.seq});                             // [B, H, N]
  Rng rng(c.seed);
  fill_normal(q_.view, rng);
  fill_normal(k_.view, rng);
  fill_normal(v_.view, rng);
  if (c.backend == Backend::cuda) device_ = make_device_run();
}

double AttnCase::run_forward() {
  if (device_) {
    has_forward_ = true;
    return device_forward(*device_, q_.view, k_.view, v_.view, spec_, out_.view, lse_.view());
  }
  Stopwatch sw;
  if (config_.dilated)
    sparse::dilated_forward(q_.view, k_.view, v_.view, *config_.dilated, out_.view, lse_.view(),
                            options_);
  else
    attention_forward(q_.view, k_.view, v_.view, spec_, out_.view, lse_.view(), options_);
  const double ms = sw.elapsed_ms();
  has_forward_ = true;
  return ms;
}

double AttnCase::run_backward() {
  if (!has_forward_) run_forward();
  const AttnConfig& c = config_;
  if (dout_.view.empty()) {
    dout_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq, c.heads, c.dim_v);  // [B, N, H, DV]
    dq_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq, c.heads, c.dim);      // [B, N, H, D]
    dk_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq_k, c.kv_heads, c.dim);  // [B, M, G, D]
    dv_ = make_laid_tensor(c.dtype, c.layout, c.batch, c.seq_k, c.kv_heads,
                           c.dim_v);          // [B, M, G, DV]
    Rng rng(c.seed ^ 0x9e3779b97f4a7c15ull);  // independent of the q/k/v stream
    fill_normal(dout_.view, rng);
  }
  if (device_) return device_backward(*device_, dout_.view, spec_, dq_.view, dk_.view, dv_.view);
  Stopwatch sw;
  if (config_.dilated)
    sparse::dilated_backward(q_.view, k_.view, v_.view, out_.view, lse_.view(), dout_.view,
                             *config_.dilated, dq_.view, dk_.view, dv_.view, options_);
  else
    attention_backward(q_.view, k_.view, v_.view, out_.view, lse_.view(), dout_.view, spec_,
                       dq_.view, dk_.view, dv_.view, options_);
  return sw.elapsed_ms();
}

int64_t AttnCase::tensor_bytes() const {
  int64_t total = lse_.nbytes();
  for (const LaidTensor* t : {&q_, &k_, &v_, &out_, &dout_, &dq_, &dk_, &dv_})
    if (!t->view.empty()) total += t->storage.nbytes();
  return total;
}

}  // namespace longctx::app
