// JSON form of plan results (bytes rounded to integers).
#include <cmath>

#include "longctx/plan/report.hpp"

namespace longctx::plan {
namespace {

int64_t bytes(double b) {
  return int64_t(std::llround(b));
}

}  // namespace

nlohmann::json to_json(const ModelConfig& m) {
  return {{"name", m.name},
          {"hidden_size", m.hidden},
          {"num_hidden_layers", m.layers},
          {"num_attention_heads", m.heads},
          {"num_key_value_heads", m.kv_heads},
          {"head_dim", m.head_dim},
          {"intermediate_size", m.intermediate},
          {"vocab_size", m.vocab},
          {"tie_word_embeddings", m.tied_embeddings},
          {"max_position_embeddings", m.max_positions},
          {"parameters", count_params(m).total(m.layers)}};
}

nlohmann::json to_json(const Layout& l) {
  return {{"tp", l.tp},
          {"sp", l.sequence_parallel},
          {"cp", l.cp},
          {"cp_kind", cp_kind_name(l)},
          {"ulysses_degree", l.ulysses},
          {"ring_degree", l.ring},
          {"dp", l.dp},
          {"zero", l.zero},
          {"recompute", recompute_name(l.recompute)},
          {"flash", l.flash},
          {"describe", describe(l)}};
}

nlohmann::json per_device_json(const DeviceMemory& mem) {
  return {{"params", bytes(mem.params)},       {"grads", bytes(mem.grads)},
          {"optimizer", bytes(mem.optimizer)}, {"activations", bytes(mem.activations)},
          {"workspace", bytes(mem.workspace)}, {"comm_buffers", bytes(mem.comm_buffers)},
          {"kv_cache", bytes(mem.kv_cache)},   {"total", bytes(mem.total())}};
}

nlohmann::json to_json(const PlanResult& r) {
  nlohmann::json comm = nlohmann::json::array();
  for (const CommVolume& v : r.comm) {
    comm.push_back({{"collective", v.name},
                    {"kind", collective_name(v.kind)},
                    {"group_size", v.group_size},
                    {"calls", v.calls},
                    {"bytes", bytes(v.bytes)},
                    {"seconds", collective_seconds(v, r.hardware)},
                    {"overlapped", v.overlapped}});
  }
  nlohmann::json j = {
      {"model", to_json(r.model)},
      {"layout", to_json(r.layout)},
      {"workload",
       {{"seq", r.work.seq},
        {"batch", r.work.batch},
        {"gpus", r.work.gpus},
        {"dtype_bytes", r.work.dtype_bytes},
        {"inference", r.work.inference}}},
      {"hardware",
       {{"tflops", r.hardware.tflops},
        {"intra_node_gbps", r.hardware.intra_gbps},
        {"inter_node_gbps", r.hardware.inter_gbps},
        {"latency_us", r.hardware.latency_us},
        {"gpus_per_node", r.hardware.gpus_per_node}}},
      {"per_device", per_device_json(r.memory)},
      {"activations_detail",
       {{"per_layer", bytes(r.memory.activations_per_layer)},
        {"layers", r.model.layers},
        {"recompute_working_set", bytes(r.memory.recompute_working_set)},
        {"head", bytes(r.memory.head_activations)}}},
      {"comm_per_layer_step", comm},
      {"step_time",
       {{"seconds", r.time.total_s},
        {"compute_s", r.time.compute_s},
        {"attention_s", r.time.attention_s},
        {"tp_comm_s", r.time.tp_comm_s},
        {"cp_comm_s", r.time.cp_comm_s},
        {"dp_comm_s", r.time.dp_comm_s},
        {"flops_per_device", r.time.flops},
        {"tokens_per_s_per_gpu", r.time.tokens_per_s_per_gpu}}},
      {"gpu_mem_bytes", bytes(r.work.gpu_mem_bytes)},
      {"usable_bytes", bytes(r.usable_bytes)},
      {"fits", r.fits},
  };
  if (r.max_context >= 0) j["max_context"] = r.max_context;
  return j;
}

nlohmann::json search_to_json(const ModelConfig& m, const Workload& w, const Hardware& hw,
                              double usable_bytes, const std::vector<Candidate>& ranked,
                              size_t top) {
  nlohmann::json layouts = nlohmann::json::array();
  size_t feasible = 0;
  for (const Candidate& c : ranked) feasible += c.fits ? 1 : 0;
  for (size_t i = 0; i < ranked.size() && i < top; ++i) {
    const Candidate& c = ranked[i];
    nlohmann::json e = {{"rank", i + 1},
                        {"layout", to_json(c.layout)},
                        {"per_device", per_device_json(c.memory)},
                        {"fits", c.fits},
                        {"step_time_s", c.time.total_s},
                        {"seconds_per_sequence", c.seconds_per_sequence()},
                        {"tokens_per_s_per_gpu", c.time.tokens_per_s_per_gpu}};
    if (c.max_context >= 0) e["max_context"] = c.max_context;
    layouts.push_back(e);
  }
  return {{"model", to_json(m)},
          {"seq", w.seq},
          {"batch", w.batch},
          {"gpus", w.gpus},
          {"usable_bytes", bytes(usable_bytes)},
          {"tflops", hw.tflops},
          {"feasible", feasible},
          {"layouts", layouts}};
}

nlohmann::json crossover_to_json(const ModelConfig& m, const std::vector<Crossover>& xs) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const Crossover& x : xs) {
    blocks.push_back({{"block", x.block == Block::attention ? "attention" : "mlp"},
                      {"weights", x.weights},
                      {"replicated_bytes_per_token", x.replicated_per_token},
                      {"bytes_per_weight", x.bytes_per_weight},
                      {"seq", x.seq},
                      {"seq_over_hidden", x.seq_over_hidden}});
  }
  return {{"model", to_json(m)}, {"crossover", blocks}};
}

}  // namespace longctx::plan
