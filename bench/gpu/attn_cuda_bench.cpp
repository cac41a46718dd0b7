// GPU attention benchmark: longctx's CUDA backend on the sizes of docs/ANCHORS.md (bf16, d = 128,
// 16 heads, batch × N = 16K tokens; causal and full; forward and backward), timed with CUDA
// events (warm-up, then the median of --repeat runs, inputs rotated between two sets so that
// L2 does not hold them). One JSON object per line on stdout for bench/gpu/compare.py; a table on
// stderr. FLOPs follow SPEC §1: forward 4·B·H·N²·d (÷2 causal), backward 2.5 × forward.
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_attention.hpp"
#include "cuda/cuda_check.hpp"
#include "longctx/attention.hpp"

namespace {

using longctx::AttentionOptions;
using longctx::AttentionSpec;
using longctx::DType;
using longctx::TensorView;

struct DeviceMem {
  explicit DeviceMem(size_t bytes) {
    void* p = nullptr;
    LONGCTX_CUDA_CHECK(cudaMalloc(&p, bytes));
    ptr.reset(p);
  }
  struct Free {
    void operator()(void* p) const { (void)cudaFree(p); }
  };
  std::unique_ptr<void, Free> ptr;
  void* get() const { return ptr.get(); }
};

// N(0, 1) bf16 values (random data, never zeros). At most 2^24 values are drawn on the host and
// the tensor is tiled with them: drawing all 2^31 values of a million-token tensor one by one took
// minutes of host time per tensor, longer than the kernels it feeds.
void fill_random(void* dst, size_t count, uint64_t seed) {
  constexpr size_t kChunk = size_t(1) << 24;
  std::vector<uint16_t> host(std::min(count, kChunk));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (auto& h : host) {
    const float f = dist(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    h = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);  // round to nearest even
  }
  for (size_t done = 0; done < count; done += host.size()) {
    const size_t n = std::min(host.size(), count - done);
    LONGCTX_CUDA_CHECK(
        cudaMemcpy(static_cast<uint16_t*>(dst) + done, host.data(), n * 2, cudaMemcpyHostToDevice));
  }
}

struct Result {
  double fwd_ms = 0, bwd_ms = 0;
  double used_gib = 0;  // device memory in use after the runs (buffers + retained workspace)
};

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times forward and backward of one configuration; two input sets alternate between runs.
Result run(int64_t batch, int64_t n, int64_t heads, int64_t dim, bool causal, int repeat,
           int warmup, int sets, bool backward) {
  const size_t elems = size_t(batch * n * heads * dim);
  const int kSets = sets;  // input sets rotated between runs so that L2 does not hold them
  std::vector<DeviceMem> q, k, v, dout;
  for (int s = 0; s < kSets; ++s) {
    for (auto* vec : {&q, &k, &v, &dout}) {
      vec->emplace_back(elems * 2);
      fill_random(vec->back().get(), elems, 1000 * s + vec->size() + uint64_t(vec == &k) * 7);
    }
  }
  DeviceMem out(elems * 2), lse(size_t(batch * heads * n) * 4), dq(elems * 2), dk(elems * 2),
      dv(elems * 2);
  auto view = [&](void* p) {
    return TensorView::contiguous(p, DType::bf16, {batch, n, heads, dim});
  };
  const TensorView lse_v = TensorView::contiguous(lse.get(), DType::f32, {batch, heads, n});
  AttentionSpec spec;
  spec.mask = causal ? longctx::MaskKind::causal : longctx::MaskKind::full;
  AttentionOptions opt;
  opt.backend = longctx::Backend::cuda;

  cudaEvent_t start, stop;
  LONGCTX_CUDA_CHECK(cudaEventCreate(&start));
  LONGCTX_CUDA_CHECK(cudaEventCreate(&stop));
  auto time_it = [&](auto&& body) {
    for (int w = 0; w < warmup; ++w) body(w % kSets);
    LONGCTX_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int r = 0; r < repeat; ++r) {
      LONGCTX_CUDA_CHECK(cudaEventRecord(start, cudaStreamLegacy));
      body(r % kSets);
      LONGCTX_CUDA_CHECK(cudaEventRecord(stop, cudaStreamLegacy));
      LONGCTX_CUDA_CHECK(cudaEventSynchronize(stop));
      float t = 0;
      LONGCTX_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
      ms.push_back(t);
    }
    return double(median(ms));
  };
  Result r;
  r.fwd_ms = time_it([&](int s) {
    longctx::attention_forward(view(q[s].get()), view(k[s].get()), view(v[s].get()), spec,
                               view(out.get()), lse_v, opt);
  });
  if (backward) {
    // out / lse of set 0 serve both sets: the backward's cost does not depend on their values.
    longctx::attention_forward(view(q[0].get()), view(k[0].get()), view(v[0].get()), spec,
                               view(out.get()), lse_v, opt);
    r.bwd_ms = time_it([&](int s) {
      longctx::attention_backward(view(q[s].get()), view(k[s].get()), view(v[s].get()),
                                  view(out.get()), lse_v, view(dout[s].get()), spec, view(dq.get()),
                                  view(dk.get()), view(dv.get()), opt);
    });
  }
  LONGCTX_CUDA_CHECK(cudaEventDestroy(start));
  LONGCTX_CUDA_CHECK(cudaEventDestroy(stop));
  size_t free_bytes = 0, total_bytes = 0;
  LONGCTX_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  r.used_gib = double(total_bytes - free_bytes) / double(1ull << 30);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"longctx CUDA attention benchmark (bf16)"};
  std::vector<int64_t> seqs{1024, 4096, 16384, 65536};
  int64_t tokens = 16384, heads = 16, dim = 128;
  int repeat = 10, warmup = 2, sets = 2;
  bool no_backward = false;
  std::vector<std::string> masks{"full", "causal"};
  app.add_option("--seq", seqs, "sequence lengths N");
  app.add_option("--tokens", tokens, "batch × N (batch = max(1, tokens / N))");
  app.add_option("--heads", heads, "heads H");
  app.add_option("--dim", dim, "head dim: 64 or 128");
  app.add_option("--repeat", repeat, "timed runs per measurement (median)");
  app.add_option("--warmup", warmup, "untimed runs before timing");
  app.add_option("--sets", sets, "input sets rotated between runs (1 for the largest sizes)")
      ->check(CLI::Range(1, 4));
  app.add_flag("--forward-only", no_backward, "skip the backward");
  app.add_option("--masks", masks, "full and/or causal")->check(CLI::IsMember({"full", "causal"}));
  CLI11_PARSE(app, argc, argv);

  try {
    std::fprintf(stderr, "device: %s\n", longctx::cuda::device_description().c_str());
    std::fprintf(stderr, "%8s %7s %6s %10s %10s %10s %10s %9s\n", "N", "mask", "batch", "fwd ms",
                 "fwd TF/s", "bwd ms", "bwd TF/s", "mem GiB");
    for (int64_t n : seqs) {
      const int64_t batch = std::max<int64_t>(1, tokens / n);
      for (const std::string& mask : masks) {
        const bool causal = mask == "causal";
        const Result r = run(batch, n, heads, dim, causal, repeat, warmup, sets, !no_backward);
        const double flops = 4.0 * batch * heads * double(n) * n * dim / (causal ? 2 : 1);
        const double fwd_tf = flops / (r.fwd_ms * 1e-3) / 1e12;
        const double bwd_tf = r.bwd_ms > 0 ? 2.5 * flops / (r.bwd_ms * 1e-3) / 1e12 : 0.0;
        std::fprintf(stderr, "%8lld %7s %6lld %10.3f %10.1f %10.3f %10.1f %9.1f\n", (long long)n,
                     causal ? "causal" : "full", (long long)batch, r.fwd_ms, fwd_tf, r.bwd_ms,
                     bwd_tf, r.used_gib);
        nlohmann::json j{{"impl", "longctx"},
                         {"seq", n},
                         {"batch", batch},
                         {"heads", heads},
                         {"dim", dim},
                         {"causal", causal},
                         {"fwd_ms", r.fwd_ms},
                         {"fwd_tflops", fwd_tf},
                         {"bwd_ms", r.bwd_ms},
                         {"bwd_tflops", bwd_tf},
                         {"device_mem_used_gib", r.used_gib}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attn_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
