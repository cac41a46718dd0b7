// Host side of the CUDA backend: validates device tensors, turns the resolved mask into the
// kernels' DeviceMask and tile list (uploading explicit positions, document ids and, when
// needed, the BlockLayout), allocates the backward's workspace from the stream-ordered pool and
// launches the kernels on the legacy default stream (asynchronous, like a kernel launch).
#include "cuda/cuda_attention.hpp"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/kernel_launch.hpp"
#include "cuda/tma_params.hpp"
#include "longctx/attn/block_layout.hpp"
#include "longctx/core/error.hpp"

namespace longctx::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") in " << call
     << " at " << file << ":" << line;
  throw CudaError(os.str());
}

bool device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return count > 0;
}

std::string device_description() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(err);
  }
  if (count == 0) return "no CUDA device";
  int dev = 0;
  LONGCTX_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  LONGCTX_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::ostringstream os;
  os << prop.name << " (sm_" << prop.major << prop.minor << ", " << prop.multiProcessorCount
     << " SMs, " << (prop.totalGlobalMem >> 30) << " GiB)";
  return os.str();
}

namespace {

// Device memory owned for the duration of one call, freed in stream order.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) {
    if (bytes) LONGCTX_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, cudaStreamLegacy));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) (void)cudaFreeAsync(ptr_, cudaStreamLegacy);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

template <typename T>
DeviceBuffer upload(const T* host, size_t count) {
  DeviceBuffer buf(count * sizeof(T));
  if (count)
    LONGCTX_CUDA_CHECK(cudaMemcpyAsync(buf.as<void>(), host, count * sizeof(T),
                                       cudaMemcpyHostToDevice, cudaStreamLegacy));
  return buf;
}

// Keeps the pool's memory between calls (repeated calls of one size allocate nothing new).
void keep_pool_memory() {
  static const bool done = [] {
    int dev = 0;
    LONGCTX_CUDA_CHECK(cudaGetDevice(&dev));
    cudaMemPool_t pool;
    LONGCTX_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
    uint64_t threshold = UINT64_MAX;
    LONGCTX_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    return true;
  }();
  (void)done;
}

KernelDType kernel_dtype(DType d, const char* arg) {
  LONGCTX_CHECK_ARG(d == DType::bf16 || d == DType::f16, arg,
                    "bf16 or f16 storage on the CUDA backend", dtype_name(d));
  return d == DType::bf16 ? KernelDType::bf16 : KernelDType::f16;
}

// A [B, rows, heads, D] tensor the kernels read or write with 16-byte vectors.
void check_device_matrix(const TensorView& t, DType dtype, const char* arg) {
  LONGCTX_CHECK_ARG(t.dtype == dtype, arg, "dtype " << dtype_name(dtype) << " (that of q)",
                    dtype_name(t.dtype));
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, t.data);
  if (err != cudaSuccess) (void)cudaGetLastError();
  const bool on_device = err == cudaSuccess &&
                         (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged);
  LONGCTX_CHECK_ARG(on_device, arg, "device memory (cudaMalloc) for Backend::cuda",
                    (attr.type == cudaMemoryTypeHost ? "pinned host memory" : "host memory"));
  const bool aligned = reinterpret_cast<uintptr_t>(t.data) % 16 == 0 && t.stride(3) == 1 &&
                       t.stride(0) % 8 == 0 && t.stride(1) % 8 == 0 && t.stride(2) % 8 == 0;
  LONGCTX_CHECK_ARG(aligned, arg,
                    "16-byte aligned rows: base address % 16 == 0, unit stride along D and "
                    "strides of B, rows, heads multiples of 8 elements",
                    "address " << t.data << ", strides [" << t.stride(0) << ", " << t.stride(1)
                               << ", " << t.stride(2) << ", " << t.stride(3) << "]");
}

void check_device_lse(const TensorView& t, const char* arg) {
  LONGCTX_CHECK_ARG(t.dtype == DType::f32, arg, "float32", dtype_name(t.dtype));
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, t.data);
  if (err != cudaSuccess) (void)cudaGetLastError();
  LONGCTX_CHECK_ARG(err == cudaSuccess &&
                        (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged),
                    arg, "device memory (cudaMalloc) for Backend::cuda", "host memory");
}

// The forward tile configuration: LONGCTX_CUDA_FORWARD_TILE (a tuning knob for benchmarks,
// 0 .. forward_tile_count() - 1), else the fastest measured one.
int forward_tile() {
  static const int tile = [] {
    const char* env = std::getenv("LONGCTX_CUDA_FORWARD_TILE");
    if (!env || !*env) return 0;
    const int t = std::atoi(env);
    LONGCTX_CHECK_ARG(t >= 0 && t < forward_tile_count(), "LONGCTX_CUDA_FORWARD_TILE",
                      "an integer in [0, " << forward_tile_count() << ")", env);
    return t;
  }();
  return tile;
}

// The backward kernel: LONGCTX_CUDA_BACKWARD = wgmma (default where the head dim has one) or mma
// (the mma.sync kernel; a knob for tests and benchmarks).
bool use_wgmma_backward(int head_dim) {
  static const bool wgmma = [] {
    const char* env = std::getenv("LONGCTX_CUDA_BACKWARD");
    if (!env || !*env) return true;
    const std::string v = env;
    LONGCTX_CHECK_ARG(v == "wgmma" || v == "mma", "LONGCTX_CUDA_BACKWARD", "wgmma or mma", v);
    return v == "wgmma";
  }();
  return wgmma && wgmma_backward_supported(head_dim);
}

void check_shape(const AttentionShape& s) {
  LONGCTX_CHECK_ARG(s.dim == s.dim_v, "v", "DV = D on the CUDA backend",
                    "D = " << s.dim << ", DV = " << s.dim_v);
  LONGCTX_CHECK_ARG(head_dim_supported(int(s.dim)), "q",
                    "head dim D = 64 or 128 on the CUDA backend", "D = " << s.dim);
  LONGCTX_CHECK_ARG(s.heads < 65536 && s.batch < 65536, "q",
                    "B < 65536 and H < 65536 on the CUDA backend",
                    "B = " << s.batch << ", H = " << s.heads);
}

void copy_strides3(const TensorView& t, int64_t (&dst)[3]) {
  dst[0] = t.stride(0);
  dst[1] = t.stride(1);
  dst[2] = t.stride(2);
}

// The mask on the device plus the uploads it points at.
struct UploadedMask {
  DeviceMask mask;
  DeviceBuffer q_pos, k_pos, q_doc, k_doc;
  bool analytic = true;  // offsets only, no documents: tiles follow from arithmetic
};

UploadedMask upload_mask(const ResolvedMask& r, int64_t batch) {
  UploadedMask u;
  DeviceMask& d = u.mask;
  d.n = r.n;
  d.m = r.m;
  d.causal = r.causal;
  d.has_window = r.has_window;
  d.left = r.left;
  d.right = r.right;
  d.n_global = r.n_global;
  if (r.n_global > 0) u.analytic = false;  // global rows/columns: the BlockLayout knows them
  LONGCTX_CHECK_ARG(r.block_sparse == nullptr, "spec.block_sparse",
                    "no block-sparse grid on the CUDA backend (not supported yet)", "a grid");
  d.q_offset = r.q_pos.offset;
  d.k_offset = r.k_pos.offset;
  if (r.q_pos.explicit_positions) {
    u.q_pos = upload(r.q_pos.explicit_positions, size_t(r.n));
    d.q_positions = u.q_pos.as<int64_t>();
    u.analytic = false;
  }
  if (r.k_pos.explicit_positions) {
    u.k_pos = upload(r.k_pos.explicit_positions, size_t(r.m));
    d.k_positions = u.k_pos.as<int64_t>();
    u.analytic = false;
  }
  if (r.q_doc_ids) {
    u.q_doc = upload(r.q_doc_ids, size_t(batch * r.n));
    u.k_doc = upload(r.k_doc_ids, size_t(batch * r.m));
    d.q_doc_ids = u.q_doc.as<int32_t>();
    d.k_doc_ids = u.k_doc.as<int32_t>();
    u.analytic = false;
  }
  return u;
}

// The tile list of one pass; CSR (uploaded BlockLayouts, one per batch) unless analytic.
struct UploadedTiles {
  TileList tiles;
  DeviceBuffer begin, block, kind;
};

UploadedTiles make_tiles(const ResolvedMask& r, const UploadedMask& um, int64_t batch, int block_q,
                         int block_k, bool outer_is_query) {
  UploadedTiles u;
  TileList& t = u.tiles;
  t.block_outer = outer_is_query ? block_q : block_k;
  t.block_inner = outer_is_query ? block_k : block_q;
  t.outer_blocks = ((outer_is_query ? r.n : r.m) + t.block_outer - 1) / t.block_outer;
  t.inner_blocks = ((outer_is_query ? r.m : r.n) + t.block_inner - 1) / t.block_inner;
  if (um.analytic) return u;
  std::vector<int64_t> begin{0};
  std::vector<int32_t> block;
  std::vector<uint8_t> kind;
  BlockLayout layout;
  for (int64_t b = 0; b < batch; ++b) {
    // Only documents differ between batches; without them one layout serves every batch.
    if (b == 0 || r.has_docs()) layout = BlockLayout::build(r, b, block_q, block_k);
    for (int64_t o = 0; o < t.outer_blocks; ++o) {
      const auto entries = outer_is_query ? layout.key_blocks(o) : layout.query_blocks(o);
      for (const BlockEntry& e : entries) {
        block.push_back(e.block);
        kind.push_back(static_cast<uint8_t>(e.kind));
      }
      begin.push_back(int64_t(block.size()));
    }
  }
  u.begin = upload(begin.data(), begin.size());
  u.block = upload(block.data(), block.size());
  u.kind = upload(kind.data(), kind.size());
  t.csr_begin = u.begin.as<int64_t>();
  t.csr_block = u.block.as<int32_t>();
  t.csr_kind = u.kind.as<uint8_t>();
  return u;
}

// Checks what both passes read (shape, dtype, q/k/v/out and lse on the device) and returns the
// kernels' dtype.
KernelDType check_common(const ForwardProblem& p, const TensorView& out, const TensorView& lse) {
  check_shape(p.shape);
  const KernelDType kd = kernel_dtype(p.q.dtype, "q");
  check_device_matrix(p.q, p.q.dtype, "q");
  check_device_matrix(p.k, p.q.dtype, "k");
  check_device_matrix(p.v, p.q.dtype, "v");
  check_device_matrix(out, p.q.dtype, "out");
  check_device_lse(lse, "lse");
  keep_pool_memory();
  return kd;
}

// TMA descriptor of a [B, rows, heads, D] device tensor read in boxes of box_rows rows; false
// when the driver rejects the layout (the caller then uses the mma.sync kernels).
bool encode_view(TmaTensor& t, const TensorView& v, KernelDType kd, int box_rows) {
  int64_t stride[3];
  copy_strides3(v, stride);
  return encode_tma_tensor(t, v.data, kd == KernelDType::bf16, v.dim(0), v.dim(1), v.dim(2),
                           int(v.dim(3)), stride, box_rows);
}

// TMA descriptors of q, k, v for the wgmma forward.
bool encode_forward_tensors(WgmmaForwardParams& wp, const ForwardProblem& p, KernelDType kd) {
  return encode_view(wp.q, p.q, kd, kWgmmaForwardRows) &&
         encode_view(wp.k, p.k, kd, kWgmmaForwardRows) &&
         encode_view(wp.v, p.v, kd, kWgmmaForwardRows);
}

}  // namespace

void forward(const ForwardProblem& p, const TensorView& out, const TensorView& lse) {
  const AttentionShape& s = p.shape;
  const KernelDType kd = check_common(p, out, lse);

  int tile = forward_tile();
  WgmmaForwardParams wp;
  if (is_wgmma_forward_tile(tile) && !encode_forward_tensors(wp, p, kd))
    tile = kWgmmaForwardTiles;  // the fastest mma.sync kernel
  const KernelBlocks blocks = kernel_blocks(int(s.dim), tile);
  UploadedMask um = upload_mask(p.mask, s.batch);
  UploadedTiles ut = make_tiles(p.mask, um, s.batch, blocks.fwd_q, blocks.fwd_k, true);
  ForwardParams& fp = wp.p;
  fp.q = p.q.data;
  fp.k = p.k.data;
  fp.v = p.v.data;
  fp.out = out.data;
  fp.lse = static_cast<float*>(lse.data);
  copy_strides3(p.q, fp.q_stride);
  copy_strides3(p.k, fp.k_stride);
  copy_strides3(p.v, fp.v_stride);
  copy_strides3(out, fp.out_stride);
  copy_strides3(lse, fp.lse_stride);
  fp.batch = int(s.batch);
  fp.heads = int(s.heads);
  fp.kv_heads = int(s.kv_heads);
  fp.scale_log2 = float(double(p.scale) * 1.4426950408889634);
  fp.mask = um.mask;
  fp.tiles = ut.tiles;
  LONGCTX_CHECK_ARG(fp.tiles.outer_blocks < (int64_t(1) << 31), "q", "fewer than 2^31 query blocks",
                    fp.tiles.outer_blocks);
  if (is_wgmma_forward_tile(tile))
    LONGCTX_CUDA_CHECK(launch_wgmma_forward(kd, int(s.dim), tile, wp, cudaStreamLegacy));
  else
    LONGCTX_CUDA_CHECK(launch_forward(kd, int(s.dim), tile, fp, cudaStreamLegacy));
}

void backward(const BackwardProblem& bp, const TensorView& dq, const TensorView& dk,
              const TensorView& dv) {
  const ForwardProblem& p = bp.fwd;
  const AttentionShape& s = p.shape;
  const KernelDType kd = check_common(p, bp.out, bp.lse);
  check_device_matrix(bp.dout, p.q.dtype, "dout");
  check_device_matrix(dq, p.q.dtype, "dq");
  check_device_matrix(dk, p.q.dtype, "dk");
  check_device_matrix(dv, p.q.dtype, "dv");

  const KernelBlocks blocks = kernel_blocks(int(s.dim), 0);
  UploadedMask um = upload_mask(p.mask, s.batch);
  UploadedTiles ut = make_tiles(p.mask, um, s.batch, blocks.bwd_q, blocks.bwd_k, false);
  const int64_t n_pad = ut.tiles.inner_blocks * blocks.bwd_q;
  DeviceBuffer lse2(size_t(s.batch * s.heads * n_pad) * sizeof(float));
  DeviceBuffer delta(size_t(s.batch * s.heads * n_pad) * sizeof(float));
  DeviceBuffer dq_accum(size_t(s.batch * s.heads * s.n * s.dim) * sizeof(float));

  WgmmaBackwardParams wp;
  bool wgmma = use_wgmma_backward(int(s.dim));
  if (wgmma)
    wgmma = encode_view(wp.q, p.q, kd, kWgmmaBackwardQueryRows) &&
            encode_view(wp.dout, bp.dout, kd, kWgmmaBackwardQueryRows) &&
            encode_view(wp.k, p.k, kd, kWgmmaBackwardKeyRows) &&
            encode_view(wp.v, p.v, kd, kWgmmaBackwardKeyRows);
  BackwardParams& kp = wp.p;
  kp.q = p.q.data;
  kp.k = p.k.data;
  kp.v = p.v.data;
  kp.dout = bp.dout.data;
  kp.lse = lse2.as<float>();
  kp.delta = delta.as<float>();
  kp.dq_accum = dq_accum.as<float>();
  kp.dk = dk.data;
  kp.dv = dv.data;
  copy_strides3(p.q, kp.q_stride);
  copy_strides3(p.k, kp.k_stride);
  copy_strides3(p.v, kp.v_stride);
  copy_strides3(bp.dout, kp.dout_stride);
  copy_strides3(dk, kp.dk_stride);
  copy_strides3(dv, kp.dv_stride);
  kp.batch = int(s.batch);
  kp.heads = int(s.heads);
  kp.kv_heads = int(s.kv_heads);
  kp.scale = p.scale;
  kp.scale_log2 = float(double(p.scale) * 1.4426950408889634);
  kp.mask = um.mask;
  kp.tiles = ut.tiles;
  LONGCTX_CHECK_ARG(kp.tiles.outer_blocks < (int64_t(1) << 31), "k", "fewer than 2^31 key blocks",
                    kp.tiles.outer_blocks);

  ForwardOutputs fo;
  fo.out = bp.out.data;
  copy_strides3(bp.out, fo.out_stride);
  int64_t lse_stride[3], dq_stride[3];
  copy_strides3(bp.lse, lse_stride);
  copy_strides3(dq, dq_stride);
  const float* lse_in = static_cast<const float*>(bp.lse.data);
  if (wgmma)
    LONGCTX_CUDA_CHECK(launch_wgmma_backward(kd, wp, fo, lse_in, lse_stride, dq.data, dq_stride,
                                             cudaStreamLegacy));
  else
    LONGCTX_CUDA_CHECK(launch_backward(kd, int(s.dim), kp, fo, lse_in, lse_stride, dq.data,
                                       dq_stride, cudaStreamLegacy));
}

}  // namespace longctx::cuda
