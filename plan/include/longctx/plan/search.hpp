// Enumerates every valid layout of a model on P devices (t, SP, c, CP kind, ZeRO stage,
// recompute), predicts memory and step time for each, and ranks the feasible ones.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/plan/layout.hpp"
#include "longctx/plan/memory_model.hpp"
#include "longctx/plan/model_config.hpp"
#include "longctx/plan/step_time.hpp"

namespace longctx::plan {

struct Candidate {
  Layout layout;
  DeviceMemory memory;
  StepTime time;
  bool fits = false;
  int64_t max_context = -1;  // filled when asked for; -1 otherwise
  // Seconds per sequence of the global batch: the step time divided by the dp replicas, so that
  // layouts with different dp compare at equal work.
  double seconds_per_sequence() const { return time.total_s / double(layout.dp); }
};

struct SearchOptions {
  bool flash = true;              // fixed, not searched
  bool with_max_context = false;  // also compute the longest trainable sequence per layout
  bool include_infeasible = false;
};

// All layouts that validate for (m, w); w.seq entries that a layout cannot split are skipped.
std::vector<Layout> enumerate_layouts(const ModelConfig& m, const Workload& w, bool flash);

// Feasible first, ranked by seconds per sequence (or by max context, longest first, when
// with_max_context); ties by total memory.
std::vector<Candidate> search_layouts(const ModelConfig& m, const Workload& w, const Hardware& hw,
                                      double usable_bytes, const SearchOptions& options);

}  // namespace longctx::plan
