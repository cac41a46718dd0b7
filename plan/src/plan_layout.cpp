// Evaluates one layout end to end (validation, memory, communication, step time, max context).
#include "longctx/plan/report.hpp"

namespace longctx::plan {

PlanResult plan_layout(const ModelConfig& m, Layout l, const Workload& w, const Hardware& hw,
                       double reserve_bytes, bool with_max_context) {
  validate(m, l, w);
  PlanResult r;
  r.model = m;
  r.layout = l;
  r.work = w;
  r.hardware = hw;
  r.reserve_bytes = reserve_bytes;
  r.usable_bytes = w.gpu_mem_bytes - reserve_bytes;
  r.memory = predict_memory(m, l, w);
  r.comm = comm_per_layer(m, l, w);
  r.time = predict_step_time(m, l, w, hw);
  r.fits = r.memory.total() <= r.usable_bytes;
  if (with_max_context) r.max_context = max_context(m, l, w, r.usable_bytes);
  return r;
}

}  // namespace longctx::plan
