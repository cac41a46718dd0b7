// The per-block work of the schedules on the GPU (block_attention.hpp's cuda_accumulate_*): one
// call of the CUDA backend per visible (query run, key run) pair — its position offsets (or
// explicit positions) reproduce the global mask — then the partial merged into the float32
// running result, or the gradients summed into float32 accumulators, by dist_kernels.cu.
// Everything is queued on the legacy default stream; nothing here waits for the device.
#include "block_attention.hpp"
#include "dist_kernels.hpp"

namespace longctx::dist {

BlockCost cuda_accumulate_forward(const BlockInputs& in, const TensorView& acc_out,
                                  const TensorView& acc_lse, ScratchTensor& tmp_out,
                                  ScratchTensor& tmp_lse) {
  const int64_t B = in.q.dim(0), H = in.q.dim(2), D = in.q.dim(3), DV = in.v.dim(3);
  BlockCost cost;
  for_each_visible_pair(in.q_runs, in.k_runs, in.spec, [&](const VisiblePair& pair) {
    // The kernel writes O in the storage dtype ([B, len, H, DV]); the merge reads it as float.
    tmp_out.reset(in.q.dtype, {B, pair.q.length, H, DV});
    tmp_lse.reset(DType::f32, {B, H, pair.q.length});
    const PairRows r = pair_rows(pair, in);
    attention_forward(r.q, r.k, r.v, pair.spec, tmp_out, tmp_lse, in.options);
    gpu::merge_partial(acc_out, acc_lse, pair.q.local_begin, tmp_out, tmp_lse);
    cost.flops += pair_forward_flops(pair.spec, B, pair.q.length, pair.k.length, H, D, DV);
    cost.computed = true;
  });
  return cost;
}

BlockCost cuda_accumulate_backward(const BlockInputs& in, const QueryResults& results,
                                   const GradientAccumulators& acc, BackwardScratch& s) {
  const int64_t B = in.q.dim(0), H = in.q.dim(2), D = in.q.dim(3), G = in.k.dim(2),
                DV = in.v.dim(3);
  BlockCost cost;
  for_each_visible_pair(in.q_runs, in.k_runs, in.spec, [&](const VisiblePair& pair) {
    const Run &qr = pair.q, &kr = pair.k;
    // The kernels write gradients in the storage dtype: scratch, then summed in float32.
    s.dq.reset(in.q.dtype, {B, qr.length, H, D});
    s.dk.reset(in.q.dtype, {B, kr.length, G, D});
    s.dv.reset(in.q.dtype, {B, kr.length, G, DV});
    const PairRows r = pair_rows(pair, in, &results);
    attention_backward(r.q, r.k, r.v, r.out, r.lse, r.dout, pair.spec, s.dq, s.dk, s.dv,
                       in.options);
    gpu::view_copy(s.dq, slice_rows(acc.dq, 1, qr.local_begin, qr.length), true);
    gpu::view_copy(s.dk, slice_rows(acc.dk, 1, kr.local_begin, kr.length), true);
    gpu::view_copy(s.dv, slice_rows(acc.dv, 1, kr.local_begin, kr.length), true);
    cost.flops += 2.5 * pair_forward_flops(pair.spec, B, qr.length, kr.length, H, D, DV);
    cost.computed = true;
  });
  return cost;
}

}  // namespace longctx::dist
