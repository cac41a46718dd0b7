// See attn_parallel_device.hpp.
#include "attn_parallel_device.hpp"

#include "longctx/core/error.hpp"
#include "longctx/dist/device_communicator.hpp"
#include "longctx/dist/mpi_communicator.hpp"

#ifdef LONGCTX_HAS_CUDA
#include "cuda/device_mirror.hpp"
#endif

namespace longctx::app {
std::unique_ptr<dist::Communicator> make_schedule_comm(dist::Communicator& world, Backend backend,
                                                       const std::string& comm) {
  if (backend != Backend::cuda) return nullptr;
  LONGCTX_CHECK_ARG(dist::cuda_dist_available(), "--device",
                    "cpu (this build has no CUDA backend: configure with nvcc)", "cuda");
  // Whether every rank has a GPU of its own, agreed by all (min over ranks).
  const int gpus = dist::local_gpu_count();
  int64_t own = gpus > 0 && dist::launched_local_size() <= gpus ? 1 : 0;
  int64_t any = gpus > 0 ? 1 : 0;
  world.allreduce(&own, 1, dist::ReduceOp::min);
  world.allreduce(&any, 1, dist::ReduceOp::min);
  LONGCTX_CHECK_ARG(any == 1, "--device", "cuda with a CUDA device visible to every rank",
                    "a rank with no CUDA device");
  const bool nccl = comm == "nccl" || (comm == "auto" && own == 1 && dist::nccl_available());
  if (nccl) {
    LONGCTX_CHECK_ARG(dist::nccl_available(), "--comm",
                      "mpi or auto (this longctx was built without NCCL)", "nccl");
    LONGCTX_CHECK_ARG(
        own == 1, "--comm", "mpi (host staging) when ranks share a GPU: NCCL needs a GPU per rank",
        "nccl with " << dist::launched_local_size() << " ranks on " << gpus << " GPU(s)");
  }
  dist::select_local_gpu();
  // The schedules' communicator gets its own MPI communicator (a split of world), so that its
  // traffic never interleaves with world's.
  std::unique_ptr<dist::Communicator> host = world.split(0, world.rank());
  return nccl ? dist::make_nccl_communicator(std::move(host))
              : dist::make_staged_communicator(std::move(host));
}

#ifdef LONGCTX_HAS_CUDA

struct RankTensors::Mirrors {
  std::vector<cuda::DeviceMirror> list;
};

RankTensors::RankTensors(Backend backend, const std::vector<TensorView>& host) : views_(host) {
  if (backend != Backend::cuda) return;
  mirrors_ = std::make_unique<Mirrors>();
  mirrors_->list.reserve(host.size());
  for (size_t i = 0; i < host.size(); ++i) {
    if (host[i].empty()) continue;  // not needed (no backward)
    mirrors_->list.emplace_back(host[i]);
    mirrors_->list.back().upload();
    views_[i] = mirrors_->list.back().view();
    device_bytes_ += host[i].numel() * dtype_size(host[i].dtype);
  }
}

void RankTensors::download() const {
  if (mirrors_)
    for (const cuda::DeviceMirror& m : mirrors_->list) m.download();
}

#else

struct RankTensors::Mirrors {};

RankTensors::RankTensors(Backend backend, const std::vector<TensorView>& host) : views_(host) {
  LONGCTX_CHECK_ARG(backend != Backend::cuda, "--device",
                    "cpu (this build has no CUDA backend: configure with nvcc)", "cuda");
}

void RankTensors::download() const {}

#endif

RankTensors::~RankTensors() = default;

}  // namespace longctx::app
