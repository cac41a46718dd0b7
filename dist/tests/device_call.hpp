// Shared by the dist tests: one call run either on host tensors (Backend::cpu) or on device
// copies of them (Backend::cuda: inputs uploaded before, outputs poisoned before and downloaded
// after), so that one test body checks both backends.
#pragma once

#include <functional>
#include <vector>

#include "longctx/attention.hpp"

namespace longctx::dist::test {

using ViewList = std::vector<TensorView>;

void run_on(Backend backend, const ViewList& inputs, const ViewList& outputs,
            const std::function<void(const ViewList& in, const ViewList& out)>& call);

// True when this build has CUDA and a device is present (the GPU tests skip otherwise).
bool gpu_present();

}  // namespace longctx::dist::test
