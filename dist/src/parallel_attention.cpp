// ParallelAttention: argument agreement across ranks, then dispatch to the schedules (see
// parallel_attention.hpp). Ring-family schedules are USP with U = 1 (ring, zigzag, striped) or
// R = 1 (Ulysses); U > 1 wraps the ring in the two Ulysses all-to-alls of head_exchange.hpp.
#include "longctx/dist/parallel_attention.hpp"

#include <cstring>

#include "allgather_schedule.hpp"
#include "device_checks.hpp"
#include "head_exchange.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/timer.hpp"
#include "longctx/dist/agreement.hpp"
#include "ring_schedule.hpp"

namespace longctx::dist {
namespace {

int parse_positive(const std::string& text, const std::string& argument, const std::string& name) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  LONGCTX_CHECK_ARG(used == text.size() && used > 0 && value >= 1, argument,
                    "usp:UxR with positive integers U and R", "'" << name << "'");
  return value;
}

int64_t scale_bits(float scale) {
  uint32_t bits;
  std::memcpy(&bits, &scale, 4);
  return bits;
}

// The same logical tensor shape check for every view the caller passes.
void check_shape(const TensorView& t, const char* name, std::initializer_list<int64_t> shape) {
  TensorView expected;
  expected.rank = int(shape.size());
  int i = 0;
  for (int64_t s : shape) expected.shape[size_t(i++)] = s;
  bool ok = t.rank == expected.rank && t.data != nullptr;
  for (int d = 0; ok && d < t.rank; ++d) ok = t.dim(d) == expected.dim(d);
  LONGCTX_CHECK_ARG(ok, name, "shape " << expected.shape_string() << " (this rank's rows)",
                    t.shape_string());
}

// 4-d view [B, n, H, 1] of an LSE [B, H, n] so that the head exchange can move it.
TensorView lse_as_rows(const TensorView& lse) {
  TensorView v = lse;
  v.rank = 4;
  v.shape = {lse.dim(0), lse.dim(2), lse.dim(1), 1};
  v.strides = {lse.stride(0), lse.stride(2), lse.stride(1), 1};
  return v;
}

// What the ring part of a schedule sees: heads after the Ulysses split (H/U query heads, the
// KV heads a member gets), head dims and the ring groups' row runs.
RingGeometry ring_geometry(const TensorView& q, const TensorView& k, const TensorView& v,
                           const ParallelConfig& config, const SequenceLayout& layout) {
  const int U = config.ulysses;
  RingGeometry g;
  g.batch = q.dim(0);
  g.heads = q.dim(2) / U;
  g.kv_heads = U > 1 ? split_kv_heads(k.dim(2), U).count[0] : k.dim(2);
  g.dim = q.dim(3);
  g.dim_v = v.dim(3);
  for (int grp = 0; grp < config.ring; ++grp) g.member_runs.push_back(layout.group_runs(grp));
  return g;
}

}  // namespace

void RankStats::add(const RankStats& o) {
  total_ms += o.total_ms;
  compute_ms += o.compute_ms;
  comm_ms += o.comm_ms;
  wait_ms += o.wait_ms;
  bytes_sent += o.bytes_sent;
  flops += o.flops;
  steps_computed += o.steps_computed;
  steps_skipped += o.steps_skipped;
  workspace_peak_bytes = std::max(workspace_peak_bytes, o.workspace_peak_bytes);
}

ParallelConfig parse_parallel(const std::string& name, int ranks, const std::string& argument) {
  LONGCTX_CHECK_ARG(ranks >= 1, argument, "at least one rank", ranks);
  ParallelConfig c;
  c.name = name;
  c.ring = ranks;
  if (name == "ring") {
  } else if (name == "zigzag") {
    c.layout = LayoutKind::zigzag;
  } else if (name == "striped") {
    c.layout = LayoutKind::striped;
  } else if (name == "allgather") {
    c.schedule = ScheduleKind::allgather;
  } else if (name == "ulysses") {
    c.ulysses = ranks;
    c.ring = 1;
  } else if (name.rfind("usp:", 0) == 0) {
    const std::string dims = name.substr(4);
    const size_t x = dims.find('x');
    LONGCTX_CHECK_ARG(x != std::string::npos, argument, "usp:UxR with positive integers U and R",
                      "'" << name << "'");
    c.ulysses = parse_positive(dims.substr(0, x), argument, name);
    c.ring = parse_positive(dims.substr(x + 1), argument, name);
    LONGCTX_CHECK_ARG(c.ulysses * c.ring == ranks, argument,
                      "usp:UxR with U·R equal to the number of ranks (" << ranks << ")",
                      "'" << name << "'");
  } else {
    throw ArgumentError(argument, "ring | zigzag | striped | ulysses | allgather | usp:UxR",
                        "'" + name + "'");
  }
  return c;
}

struct ParallelAttention::Impl {
  std::unique_ptr<Communicator> inner, outer;  // Ulysses group, ring (when U > 1)
  Communicator* ring = nullptr;                // outer, or the whole communicator
  std::vector<int64_t> member_rows;            // rows of each Ulysses member of my group

  int64_t bytes_sent(const Communicator& comm) const {
    int64_t b = comm.bytes_sent();
    if (inner) b += inner->bytes_sent() + outer->bytes_sent();
    return b;
  }
};

ParallelAttention::ParallelAttention(Communicator& comm, const ParallelConfig& config, int64_t n,
                                     const ParallelOptions& options)
    : comm_(comm), config_(config), options_(options), impl_(std::make_unique<Impl>()) {
  const Signature sig = {{"parallel.schedule", int64_t(config.schedule)},
                         {"parallel.layout", int64_t(config.layout)},
                         {"parallel.ulysses", config.ulysses},
                         {"parallel.ring", config.ring},
                         {"seq", n}};
  agree_on(comm, sig, [&] {
    LONGCTX_CHECK_ARG(config.ranks() == comm.size(), "parallel",
                      "a schedule over the " << comm.size() << " ranks of the communicator",
                      config.ranks() << " ranks (" << config.name << ")");
    LONGCTX_CHECK_ARG(options.threads >= 1, "threads", ">= 1 kernel thread per rank",
                      options.threads);
    LONGCTX_CHECK_ARG(options.backend == Backend::cpu || options.backend == Backend::cuda,
                      "backend", "cpu or cuda for the parallel schedules", "reference");
    if (options.backend == Backend::cuda) check_device_communicator(comm);
    layout_ = std::make_unique<SequenceLayout>(config.make_layout(n));
  });
  const int U = config.ulysses, me = comm.rank();
  if (U > 1) {
    impl_->inner = comm.split(me / U, me % U);
    impl_->outer = comm.split(me % U, me / U);
    impl_->ring = impl_->outer.get();
  } else {
    impl_->ring = &comm_;
  }
  const int group = me / U;
  for (int u = 0; u < U; ++u) impl_->member_rows.push_back(layout_->rows(group * U + u));
}

ParallelAttention::~ParallelAttention() = default;

int ParallelAttention::rank() const {
  return comm_.rank();
}

// Shape, dtype and spec checks shared by forward and backward; every rank runs them and
// compares with rank 0 (agree_on), so that a mismatch fails everywhere instead of hanging.
static Signature problem_signature(const TensorView& q, const TensorView& k, const TensorView& v,
                                   const AttentionSpec& spec, int64_t n) {
  return {{"batch", q.rank == 4 ? q.dim(0) : -1},
          {"seq", n},
          {"heads", q.rank == 4 ? q.dim(2) : -1},
          {"kv_heads", k.rank == 4 ? k.dim(2) : -1},
          {"dim", q.rank == 4 ? q.dim(3) : -1},
          {"dim_v", v.rank == 4 ? v.dim(3) : -1},
          {"dtype", int64_t(q.dtype)},
          {"mask", int64_t(spec.mask)},
          {"window", spec.window ? 1 : 0},
          {"window.left", spec.window ? spec.window->left : 0},
          {"window.right", spec.window ? spec.window->right : 0},
          {"scale", scale_bits(spec.scale)}};
}

static void check_local(const SequenceLayout& layout, const ParallelConfig& config, int rank,
                        const TensorView& q, const TensorView& k, const TensorView& v,
                        const AttentionSpec& spec) {
  LONGCTX_CHECK_ARG(!spec.q_positions && !spec.k_positions, "spec.positions",
                    "unset (the layout decides the positions of every rank's rows)", "set");
  LONGCTX_CHECK_ARG(spec.q_doc_ids == nullptr && spec.k_doc_ids == nullptr, "spec.doc_ids",
                    "unset (document masks are not sharded yet)", "set");
  LONGCTX_CHECK_ARG(spec.global_tokens == 0 && spec.block_sparse == nullptr, "spec.mask",
                    "full, causal or a sliding window (global tokens and block-sparse grids are "
                    "not sharded yet)",
                    spec.describe());
  const int64_t rows = layout.rows(rank);
  LONGCTX_CHECK_ARG(
      q.rank == 4 && q.dim(1) == rows, "q",
      "[B, " << rows << ", H, D]: this rank's " << rows << " rows of the " << layout.describe(),
      q.shape_string());
  LONGCTX_CHECK_ARG(k.rank == 4 && k.dim(1) == rows, "k", "[B, " << rows << ", G, D]",
                    k.shape_string());
  LONGCTX_CHECK_ARG(v.rank == 4 && v.dim(1) == rows, "v", "[B, " << rows << ", G, DV]",
                    v.shape_string());
  make_forward_problem(q, k, v, spec);  // head dims, GQA, dtypes
  const int64_t H = q.dim(2), G = k.dim(2);
  const int U = config.ulysses;
  if (U > 1) {
    LONGCTX_CHECK_ARG(
        H % U == 0, "heads",
        "a multiple of the Ulysses degree U = " << U << " (heads are split over U ranks)", H);
    LONGCTX_CHECK_ARG(
        G % U == 0 || U % G == 0, "kv_heads",
        "a multiple or a divisor of the Ulysses degree U = " << U << " (split or replicated)", G);
  }
}

// Bytes, memory peak and total time of a call; on the GPU after the device has finished it.
void ParallelAttention::finish_stats(RankStats& stats, int64_t bytes_sent) const {
  const bool device = options_.backend == Backend::cuda;
  if (device) synchronize_device();
  stats.bytes_sent = bytes_sent;
  stats.workspace_peak_bytes = device ? device_memory_peak() : workspace_bytes_peak();
}

void ParallelAttention::forward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const AttentionSpec& spec, const TensorView& out,
                                const TensorView& lse, RankStats* stats_out) {
  Stopwatch total;
  const int me = comm_.rank();
  const SequenceLayout& L = *layout_;
  agree_on(comm_, problem_signature(q, k, v, spec, L.n()), [&] {
    check_local(L, config_, me, q, k, v, spec);
    check_shape(out, "out", {q.dim(0), q.dim(1), q.dim(2), v.dim(3)});
    check_shape(lse, "lse", {q.dim(0), q.dim(2), q.dim(1)});
    LONGCTX_CHECK_ARG(lse.dtype == DType::f32, "lse", "float32", dtype_name(lse.dtype));
    if (options_.backend == Backend::cuda)
      check_device_tensors({{"q", &q}, {"k", &k}, {"v", &v}, {"out", &out}}, lse);
  });
  RankStats stats;
  const int64_t bytes0 = impl_->bytes_sent(comm_);
  const int U = config_.ulysses;
  const RingGeometry g = ring_geometry(q, k, v, config_, L);
  const AttentionOptions opt{options_.backend, options_.threads, options_.block_q,
                             options_.block_k};
  const ViewMemory& mem = schedule_memory(options_.backend);

  ScratchTensor o32(mem), l32(mem);
  if (config_.schedule == ScheduleKind::allgather) {
    allgather_forward(comm_, g, q, k, v, spec, opt, o32, l32, stats);
  } else if (U == 1) {
    ring_forward(*impl_->ring, g, q, k, v, spec, opt, o32, l32, stats);
  } else {
    const HeadSplit hs = split_heads(q.dim(2), U), ks = split_kv_heads(k.dim(2), U);
    const int64_t ng = L.group_rows(me / U);
    const std::vector<int64_t>& rows = impl_->member_rows;
    ScratchTensor qh(q.dtype, {g.batch, ng, g.heads, g.dim}, mem);
    ScratchTensor kh(k.dtype, {g.batch, ng, g.kv_heads, g.dim}, mem);
    ScratchTensor vh(v.dtype, {g.batch, ng, g.kv_heads, g.dim_v}, mem);
    to_heads(*impl_->inner, q, hs, rows, qh, stats, mem);
    to_heads(*impl_->inner, k, ks, rows, kh, stats, mem);
    to_heads(*impl_->inner, v, ks, rows, vh, stats, mem);
    ScratchTensor oh(mem), lh(mem);
    ring_forward(*impl_->ring, g, qh, kh, vh, spec, opt, oh, lh, stats);
    o32.reset(DType::f32, {g.batch, q.dim(1), q.dim(2), g.dim_v});
    to_sequence(*impl_->inner, oh, hs, rows, o32, stats, mem);
    l32.reset(DType::f32, {g.batch, q.dim(2), q.dim(1)});
    to_sequence(*impl_->inner, lse_as_rows(lh), hs, rows, lse_as_rows(l32), stats, mem);
  }
  mem.store(o32.f32(), out);
  mem.store(l32.f32(), lse);
  finish_stats(stats, impl_->bytes_sent(comm_) - bytes0);
  stats.total_ms = total.elapsed_ms();
  if (stats_out) *stats_out = stats;
}

void ParallelAttention::backward(const TensorView& q, const TensorView& k, const TensorView& v,
                                 const TensorView& out, const TensorView& lse,
                                 const TensorView& dout, const AttentionSpec& spec,
                                 const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                 RankStats* stats_out) {
  Stopwatch total;
  const int me = comm_.rank();
  const SequenceLayout& L = *layout_;
  agree_on(comm_, problem_signature(q, k, v, spec, L.n()), [&] {
    check_local(L, config_, me, q, k, v, spec);
    const int64_t B = q.dim(0), n = q.dim(1), H = q.dim(2), G = k.dim(2);
    check_shape(out, "out", {B, n, H, v.dim(3)});
    check_shape(dout, "dout", {B, n, H, v.dim(3)});
    check_shape(lse, "lse", {B, H, n});
    LONGCTX_CHECK_ARG(lse.dtype == DType::f32, "lse", "float32", dtype_name(lse.dtype));
    check_shape(dq, "dq", {B, n, H, q.dim(3)});
    check_shape(dk, "dk", {B, n, G, k.dim(3)});
    check_shape(dv, "dv", {B, n, G, v.dim(3)});
    if (options_.backend == Backend::cuda)
      check_device_tensors({{"q", &q},
                            {"k", &k},
                            {"v", &v},
                            {"out", &out},
                            {"dout", &dout},
                            {"dq", &dq},
                            {"dk", &dk},
                            {"dv", &dv}},
                           lse);
  });
  RankStats stats;
  const int64_t bytes0 = impl_->bytes_sent(comm_);
  const int U = config_.ulysses;
  const RingGeometry g = ring_geometry(q, k, v, config_, L);
  const AttentionOptions opt{options_.backend, options_.threads, options_.block_q,
                             options_.block_k};
  const ViewMemory& mem = schedule_memory(options_.backend);

  ScratchTensor dq32(mem), dk32(mem), dv32(mem);
  if (config_.schedule == ScheduleKind::allgather) {
    allgather_backward(comm_, g, q, k, v, out, lse, dout, spec, opt, dq32, dk32, dv32, stats);
  } else if (U == 1) {
    ring_backward(*impl_->ring, g, q, k, v, out, lse, dout, spec, opt, dq32, dk32, dv32, stats);
  } else {
    const HeadSplit hs = split_heads(q.dim(2), U), ks = split_kv_heads(k.dim(2), U);
    const int64_t ng = L.group_rows(me / U);
    const std::vector<int64_t>& rows = impl_->member_rows;
    ScratchTensor qh(q.dtype, {g.batch, ng, g.heads, g.dim}, mem);
    ScratchTensor kh(k.dtype, {g.batch, ng, g.kv_heads, g.dim}, mem);
    ScratchTensor vh(v.dtype, {g.batch, ng, g.kv_heads, g.dim_v}, mem);
    ScratchTensor oh(out.dtype, {g.batch, ng, g.heads, g.dim_v}, mem);
    ScratchTensor doh(dout.dtype, {g.batch, ng, g.heads, g.dim_v}, mem);
    ScratchTensor lh(DType::f32, {g.batch, g.heads, ng}, mem);
    to_heads(*impl_->inner, q, hs, rows, qh, stats, mem);
    to_heads(*impl_->inner, k, ks, rows, kh, stats, mem);
    to_heads(*impl_->inner, v, ks, rows, vh, stats, mem);
    to_heads(*impl_->inner, out, hs, rows, oh, stats, mem);
    to_heads(*impl_->inner, dout, hs, rows, doh, stats, mem);
    to_heads(*impl_->inner, lse_as_rows(lse), hs, rows, lse_as_rows(lh), stats, mem);
    ScratchTensor dqh(mem), dkh(mem), dvh(mem);
    ring_backward(*impl_->ring, g, qh, kh, vh, oh, lh, doh, spec, opt, dqh, dkh, dvh, stats);
    dq32.reset(DType::f32, {g.batch, q.dim(1), q.dim(2), g.dim});
    dk32.reset(DType::f32, {g.batch, q.dim(1), k.dim(2), g.dim});
    dv32.reset(DType::f32, {g.batch, q.dim(1), k.dim(2), g.dim_v});
    to_sequence(*impl_->inner, dqh, hs, rows, dq32, stats, mem);
    to_sequence(*impl_->inner, dkh, ks, rows, dk32, stats, mem);
    to_sequence(*impl_->inner, dvh, ks, rows, dv32, stats, mem);
  }
  mem.store(dq32.f32(), dq);
  mem.store(dk32.f32(), dk);
  mem.store(dv32.f32(), dv);
  finish_stats(stats, impl_->bytes_sent(comm_) - bytes0);
  stats.total_ms = total.elapsed_ms();
  if (stats_out) *stats_out = stats;
}

}  // namespace longctx::dist
