// See device_call.hpp.
#include "device_call.hpp"

#include "longctx/core/error.hpp"

#ifdef LONGCTX_HAS_CUDA
#include "cuda/cuda_attention.hpp"
#include "cuda/device_mirror.hpp"
#endif

namespace longctx::dist::test {

#ifdef LONGCTX_HAS_CUDA

void run_on(Backend backend, const ViewList& inputs, const ViewList& outputs,
            const std::function<void(const ViewList& in, const ViewList& out)>& call) {
  if (backend != Backend::cuda) return call(inputs, outputs);
  std::vector<cuda::DeviceMirror> in, out;
  ViewList in_views, out_views;
  for (const TensorView& t : inputs) {
    in.emplace_back(t);
    in.back().upload();
    in_views.push_back(in.back().view());
  }
  for (const TensorView& t : outputs) {
    out.emplace_back(t);
    out.back().poison();
    out_views.push_back(out.back().view());
  }
  call(in_views, out_views);
  for (const cuda::DeviceMirror& m : out) m.download();
}

bool gpu_present() {
  return cuda::device_available();
}

#else

void run_on(Backend backend, const ViewList& inputs, const ViewList& outputs,
            const std::function<void(const ViewList& in, const ViewList& out)>& call) {
  LONGCTX_CHECK_ARG(backend != Backend::cuda, "backend", "cpu (a build without CUDA)", "cuda");
  call(inputs, outputs);
}

bool gpu_present() {
  return false;
}

#endif

}  // namespace longctx::dist::test
