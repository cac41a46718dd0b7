// The optimizer side of training: AdamW with decoupled weight decay (Loshchilov & Hutter,
// computed as torch.optim.AdamW does for float32 parameters), global gradient-norm clipping
// (torch.nn.utils.clip_grad_norm_) and the learning-rate schedule (linear warm-up, cosine decay).
//
// Parameters and gradients are DecoderWeights walked through model::named_parameters, so the
// i-th gradient tensor pairs with the i-th parameter and the moments are keyed by HF name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "longctx/model/weights.hpp"

namespace longctx::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  // applied to matrices only (NamedParameter::is_matrix)
};
// ArgumentError naming the field ("beta1", ...): betas in [0, 1), eps > 0, weight_decay >= 0.
void validate(const AdamWOptions& options);

// Adam's running moments of one parameter tensor, in float32 like torch keeps them.
struct ParameterMoments {
  std::string name;               // HF name, "model.layers.0.mlp.up_proj.weight"
  std::vector<int64_t> shape;     // [out, in] or [n]
  std::vector<float> exp_avg;     // [prod(shape)] first moment m
  std::vector<float> exp_avg_sq;  // [prod(shape)] second moment v
};

class AdamW {
 public:
  explicit AdamW(AdamWOptions options = {});

  // One update of every parameter from its gradient at learning rate `lr` (finite, >= 0):
  //   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  m̂ = m / (1−β1^t);  v̂ = v / (1−β2^t)
  //   p ← p − lr·wd·p (matrices only);  p ← p − lr·m̂ / (sqrt(v̂) + eps)
  // `grads` has the shape of `weights` (e.g. model::zeros_like). The moments are created (zeros)
  // at the first step; later steps require the same parameter list (ArgumentError naming the
  // tensor otherwise).
  // `updates` (when set) says which parameters (by name) this step updates; the others are
  // frozen: weights and moments untouched (the step count still advances for all).
  void step(model::DecoderWeights& weights, const model::DecoderWeights& grads, double lr,
            const std::function<bool(const std::string&)>& updates = {});

  int64_t steps() const { return steps_; }  // t, the number of updates applied so far
  const AdamWOptions& options() const { return options_; }

  // For checkpoints: the moments in named_parameters order (empty before the first step), one by
  // name (nullptr when absent), and restoring a saved state (`moments` checked by the next step).
  const std::vector<ParameterMoments>& moments() const { return moments_; }
  const ParameterMoments* find_moments(std::string_view name) const;
  void load_state(int64_t steps, std::vector<ParameterMoments> moments);

 private:
  AdamWOptions options_;
  int64_t steps_ = 0;
  std::vector<ParameterMoments> moments_;
};

// Global L2 norm of all gradients, accumulated in float64, returned as it was before clipping.
// When max_norm > 0 and the norm exceeds it, every gradient is scaled by max_norm / (norm + 1e-6)
// as torch's clip_grad_norm_ does; max_norm <= 0 only measures. A non-finite norm is returned
// without scaling anything (the caller decides whether to skip the step).
double clip_grad_norm(model::DecoderWeights& grads, double max_norm);

// Learning rate per optimizer step (0-based): linear warm-up peak·(step+1)/warmup_steps for
// step < warmup_steps, then cosine decay from peak_lr to min_lr reached at total_steps, min_lr
// after that.
struct LrSchedule {
  double peak_lr = 3e-4;
  double min_lr = 3e-5;
  int64_t warmup_steps = 100;
  int64_t total_steps = 1000;
};
// ArgumentError naming the field: peak_lr > 0, 0 <= min_lr <= peak_lr, warmup_steps >= 0,
// total_steps >= max(1, warmup_steps).
void validate(const LrSchedule& schedule);
double learning_rate(const LrSchedule& schedule, int64_t step);

}  // namespace longctx::train
