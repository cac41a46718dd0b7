// AdamW (see adamw.hpp). The update runs in float32 with the scalar factors computed in double
// first, in the order torch's single-tensor AdamW uses for float32 parameters; elements are split
// over OpenMP threads. Clipping is in grad_clip.cpp, the schedule in lr_schedule.cpp.
#include "longctx/train/adamw.hpp"

#include <cmath>
#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx::train {
namespace {

// Tensors smaller than this are updated on one thread: the fork costs more than the work.
constexpr int64_t kParallelMin = 1 << 14;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

void check_unit_interval(double value, const char* field) {
  LONGCTX_CHECK_ARG(std::isfinite(value) && value >= 0.0 && value < 1.0, field, "a value in [0, 1)",
                    value);
}

// `grads` must list the same tensors as `params`, in the same order and shapes.
void check_gradients(const std::vector<model::NamedParameter>& params,
                     const std::vector<model::ConstNamedParameter>& grads) {
  LONGCTX_CHECK_ARG(grads.size() == params.size(), "grads",
                    params.size() << " tensors shaped like the weights",
                    grads.size() << " tensors");
  for (size_t i = 0; i < params.size(); ++i) {
    const model::NamedParameter& p = params[i];
    const model::ConstNamedParameter& g = grads[i];
    LONGCTX_CHECK_ARG(g.name == p.name && g.shape == p.shape &&
                          int64_t(g.values->size()) == numel(p.shape) &&
                          int64_t(p.values->size()) == numel(p.shape),
                      "grads", "tensor " << p.name << " of shape " << shape_text(p.shape),
                      "tensor " << g.name << " of shape " << shape_text(g.shape) << " holding "
                                << g.values->size() << " values");
  }
}

// The optimizer's moments must have been made for exactly these parameters.
void check_moments(const std::vector<model::NamedParameter>& params,
                   const std::vector<ParameterMoments>& moments) {
  LONGCTX_CHECK_ARG(moments.size() == params.size(), "weights",
                    moments.size() << " tensors (the optimizer state's parameters)",
                    params.size() << " tensors");
  for (size_t i = 0; i < params.size(); ++i) {
    LONGCTX_CHECK_ARG(moments[i].name == params[i].name && moments[i].shape == params[i].shape,
                      "weights",
                      "tensor " << moments[i].name << " of shape " << shape_text(moments[i].shape)
                                << " (the optimizer state's parameter " << i << ")",
                      "tensor " << params[i].name << " of shape " << shape_text(params[i].shape));
  }
}

}  // namespace

void validate(const AdamWOptions& o) {
  check_unit_interval(o.beta1, "beta1");
  check_unit_interval(o.beta2, "beta2");
  LONGCTX_CHECK_ARG(std::isfinite(o.eps) && o.eps > 0.0, "eps", "a positive number", o.eps);
  LONGCTX_CHECK_ARG(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight_decay",
                    "a number >= 0", o.weight_decay);
}

AdamW::AdamW(AdamWOptions options) : options_(options) {
  validate(options_);
}

const ParameterMoments* AdamW::find_moments(std::string_view name) const {
  for (const ParameterMoments& m : moments_) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

void AdamW::load_state(int64_t steps, std::vector<ParameterMoments> moments) {
  LONGCTX_CHECK_ARG(steps >= 0, "steps", "a step count >= 0", steps);
  // Zero moments at t > 0 would be bias-corrected as if they had been averaged t times.
  LONGCTX_CHECK_ARG((steps == 0) == moments.empty(), "moments",
                    "moments exactly when the step count is > 0",
                    moments.size() << " tensors at step " << steps);
  for (const ParameterMoments& m : moments) {
    const int64_t n = numel(m.shape);
    LONGCTX_CHECK_ARG(int64_t(m.exp_avg.size()) == n && int64_t(m.exp_avg_sq.size()) == n,
                      "moments",
                      "exp_avg and exp_avg_sq of " << n << " values for tensor " << m.name << " "
                                                   << shape_text(m.shape),
                      m.exp_avg.size() << " and " << m.exp_avg_sq.size() << " values");
  }
  steps_ = steps;
  moments_ = std::move(moments);
}

void AdamW::step(model::DecoderWeights& weights, const model::DecoderWeights& grads, double lr,
                 const std::function<bool(const std::string&)>& updates) {
  LONGCTX_CHECK_ARG(std::isfinite(lr) && lr >= 0.0, "lr", "a finite learning rate >= 0", lr);
  const std::vector<model::NamedParameter> params = model::named_parameters(weights);
  const std::vector<model::ConstNamedParameter> grad_list = model::named_parameters(grads);
  check_gradients(params, grad_list);
  if (moments_.empty()) {
    for (const model::NamedParameter& p : params) {
      moments_.push_back({p.name, p.shape, std::vector<float>(p.values->size(), 0.f),
                          std::vector<float>(p.values->size(), 0.f)});
    }
  } else {
    check_moments(params, moments_);
  }

  ++steps_;
  const AdamWOptions& o = options_;
  const double bias_correction1 = 1.0 - std::pow(o.beta1, double(steps_));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, double(steps_));
  const float step_size = float(lr / bias_correction1);
  const float bias_correction2_sqrt = float(std::sqrt(bias_correction2));
  const float decay = float(1.0 - lr * o.weight_decay);
  const float one_minus_beta1 = float(1.0 - o.beta1), beta2 = float(o.beta2),
              one_minus_beta2 = float(1.0 - o.beta2), eps = float(o.eps);

  for (size_t i = 0; i < params.size(); ++i) {
    if (updates && !updates(params[i].name)) continue;  // frozen: weights and moments kept
    float* p = params[i].values->data();                // [n]
    const float* g = grad_list[i].values->data();       // [n]
    float* m = moments_[i].exp_avg.data();              // [n]
    float* v = moments_[i].exp_avg_sq.data();           // [n]
    const int64_t n = int64_t(params[i].values->size());
    const bool decayed = params[i].is_matrix() && o.weight_decay != 0.0;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t j = 0; j < n; ++j) {
      const float gj = g[j];
      const float pj = decayed ? p[j] * decay : p[j];
      m[j] += one_minus_beta1 * (gj - m[j]);
      v[j] = beta2 * v[j] + one_minus_beta2 * gj * gj;
      const float denom = std::sqrt(v[j]) / bias_correction2_sqrt + eps;
      p[j] = pj - step_size * (m[j] / denom);
    }
  }
}

}  // namespace longctx::train
