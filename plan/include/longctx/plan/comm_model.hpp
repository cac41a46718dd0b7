// Communication volume per layer per step: for every collective a layout issues, the bytes one
// device sends, the number of calls and the group it runs in. A "step" is one forward and backward
// of one micro-batch per data-parallel rank (forward only for inference).
#pragma once

#include <string>
#include <vector>

#include "longctx/plan/layout.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

enum class Collective { all_reduce, all_gather, reduce_scatter, all_to_all, send_recv };
const char* collective_name(Collective c);

struct CommVolume {
  std::string name;  // e.g. "tp_all_reduce", "cp_ring_send_recv", "dp_reduce_scatter"
  Collective kind;
  int64_t group_size = 1;
  int64_t group_stride = 1;  // distance between the group's ranks (TP innermost)
  int64_t calls = 0;         // per layer per step
  double bytes = 0;          // sent by one device per layer per step, all calls together
  bool overlapped = false;   // hidden behind compute in the step-time model
};

// Assumes `validate(m, l, w)` passed. Only collectives with group size > 1 are listed.
std::vector<CommVolume> comm_per_layer(const ModelConfig& m, const Layout& l, const Workload& w);

}  // namespace longctx::plan
