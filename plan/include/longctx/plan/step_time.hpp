// Predicted time of one step: compute at a stated achieved FLOP rate, plus alpha-beta
// communication (latency per hop + bytes / link bandwidth). Ring send/recv hides behind the
// attention it feeds; DP/ZeRO traffic hides behind backward compute; TP, all-to-all and
// all-gather are exposed. Plain ring pays the causal load imbalance of its last rank.
#pragma once

#include <cstdint>

#include "longctx/plan/comm_model.hpp"
#include "longctx/plan/layout.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

struct Hardware {
  double tflops = 400;      // achieved dense bf16 TFLOP/s per GPU (H100 SXM peak is 989)
  double intra_gbps = 300;  // GB/s per GPU per direction inside a node (NVLink)
  double inter_gbps = 40;   // GB/s per GPU per direction across nodes (400 Gb/s InfiniBand)
  double latency_us = 10;   // alpha, per message hop
  int64_t gpus_per_node = 8;
};

struct StepTime {
  double flops = 0;        // per device per step
  double compute_s = 0;    // GEMMs + attention (attention including ring imbalance)
  double attention_s = 0;  // part of compute_s
  double tp_comm_s = 0;    // exposed
  double cp_comm_s = 0;    // exposed part (ring: what the attention does not hide)
  double dp_comm_s = 0;    // exposed part
  double total_s = 0;
  double tokens_per_s_per_gpu = 0;
};

// Seconds of one collective entry under the alpha-beta model (bandwidth of the slowest link the
// group spans: inside a node when stride·size <= gpus_per_node).
double collective_seconds(const CommVolume& v, const Hardware& hw);

// Assumes `validate(m, l, w)` passed. Causal attention (language-model training).
StepTime predict_step_time(const ModelConfig& m, const Layout& l, const Workload& w,
                           const Hardware& hw);

}  // namespace longctx::plan
