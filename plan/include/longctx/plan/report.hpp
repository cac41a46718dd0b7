// What `longctx plan` reports: one layout's memory, communication and step time (PlanResult),
// or a ranked search; as JSON (stable keys, bytes as integers) or as human-readable tables.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "longctx/plan/comm_model.hpp"
#include "longctx/plan/crossover.hpp"
#include "longctx/plan/layout.hpp"
#include "longctx/plan/memory_model.hpp"
#include "longctx/plan/model_config.hpp"
#include "longctx/plan/search.hpp"
#include "longctx/plan/step_time.hpp"

namespace longctx::plan {

struct PlanResult {
  ModelConfig model;
  Layout layout;
  Workload work;
  Hardware hardware;
  double usable_bytes = 0;  // gpu memory minus the reserve
  double reserve_bytes = 0;
  DeviceMemory memory;
  std::vector<CommVolume> comm;
  StepTime time;
  bool fits = false;
  int64_t max_context = -1;  // -1: not asked for
};

// Validates (throws ArgumentError naming the flag) and evaluates every model for one layout.
PlanResult plan_layout(const ModelConfig& m, Layout l, const Workload& w, const Hardware& hw,
                       double reserve_bytes, bool with_max_context);

// Keys: model, layout, workload, hardware, per_device {params, grads, optimizer, activations,
// workspace, comm_buffers, kv_cache, total}, activations_detail, comm_per_layer_step, step_time,
// gpu_mem_bytes, usable_bytes, fits, and max_context when asked for.
nlohmann::json to_json(const PlanResult& r);
nlohmann::json to_json(const ModelConfig& m);
nlohmann::json to_json(const Layout& l);
nlohmann::json per_device_json(const DeviceMemory& mem);
nlohmann::json search_to_json(const ModelConfig& m, const Workload& w, const Hardware& hw,
                              double usable_bytes, const std::vector<Candidate>& ranked,
                              size_t top);
nlohmann::json crossover_to_json(const ModelConfig& m, const std::vector<Crossover>& xs);

std::string to_text(const PlanResult& r);
std::string search_to_text(const ModelConfig& m, const Workload& w, double usable_bytes,
                           const std::vector<Candidate>& ranked, size_t top, bool with_max_context);
std::string crossover_to_text(const ModelConfig& m, const std::vector<Crossover>& xs);

}  // namespace longctx::plan
