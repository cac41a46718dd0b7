// The CUDA side of AttnCase (`longctx attn --device cuda`): device copies of the case's tensors
// (same strides), calls through the public API with Backend::cuda timed with CUDA events, and
// the outputs copied back to the host tensors after each timed call (outside the timing) so that
// --check and the oracle read them as for the CPU.
#pragma once

#include <memory>

#include "longctx/attention.hpp"

namespace longctx::app {

class DeviceRun;
struct DeviceRunDeleter {
  void operator()(DeviceRun* d) const;
};
using DeviceRunPtr = std::unique_ptr<DeviceRun, DeviceRunDeleter>;

// Throws ArgumentError naming --device when this build has no CUDA backend or no device.
DeviceRunPtr make_device_run();

// Milliseconds of the forward on the device; inputs are uploaded on the first call.
double device_forward(DeviceRun& d, const TensorView& q, const TensorView& k, const TensorView& v,
                      const AttentionSpec& spec, const TensorView& out, const TensorView& lse);
// Milliseconds of the backward; dout is uploaded on the first call (out/lse from the device).
double device_backward(DeviceRun& d, const TensorView& dout, const AttentionSpec& spec,
                       const TensorView& dq, const TensorView& dk, const TensorView& dv);

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79 GiB)" or why none is usable.
std::string device_name();

}  // namespace longctx::app
