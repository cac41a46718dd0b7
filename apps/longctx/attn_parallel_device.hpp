// The GPU side of `longctx attn --device cuda --parallel ...` (attn_parallel.cpp): the
// communicator the schedules run over, and the rank's tensors on the device.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "longctx/attention.hpp"
#include "longctx/dist/communicator.hpp"

namespace longctx::app {

// The schedules' communicator. cpu: null (the MPI world serves). cuda: picks this rank's GPU,
// then NCCL or MPI with host staging as --comm says — auto: NCCL when this build has it and
// every rank has a GPU of its own (ranks per node <= GPUs per node), else staging. Collective
// over world; ArgumentError naming --device / --comm on every rank when impossible.
std::unique_ptr<dist::Communicator> make_schedule_comm(dist::Communicator& world, Backend backend,
                                                       const std::string& comm);

// The rank's tensors as the schedules see them: the host tensors themselves (cpu), or device
// copies (cuda) uploaded on construction; download() copies the device tensors back.
class RankTensors {
 public:
  RankTensors(Backend backend, const std::vector<TensorView>& host);
  ~RankTensors();
  const TensorView& operator[](size_t i) const { return views_[i]; }
  void download() const;
  // Bytes of the device copies (0 on the host).
  int64_t device_bytes() const { return device_bytes_; }

 private:
  struct Mirrors;
  std::vector<TensorView> views_;
  std::unique_ptr<Mirrors> mirrors_;
  int64_t device_bytes_ = 0;
};

}  // namespace longctx::app
