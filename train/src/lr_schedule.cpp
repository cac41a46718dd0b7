// The learning-rate schedule of training (see adamw.hpp): linear warm-up to the peak, cosine
// decay to the minimum at total_steps, the minimum after that.
#include <cmath>
#include <numbers>

#include "longctx/core/error.hpp"
#include "longctx/train/adamw.hpp"

namespace longctx::train {

void validate(const LrSchedule& s) {
  LONGCTX_CHECK_ARG(std::isfinite(s.peak_lr) && s.peak_lr > 0.0, "peak_lr", "a positive number",
                    s.peak_lr);
  LONGCTX_CHECK_ARG(std::isfinite(s.min_lr) && s.min_lr >= 0.0 && s.min_lr <= s.peak_lr, "min_lr",
                    "a number in [0, peak_lr = " << s.peak_lr << "]", s.min_lr);
  LONGCTX_CHECK_ARG(s.warmup_steps >= 0, "warmup_steps", "a step count >= 0", s.warmup_steps);
  LONGCTX_CHECK_ARG(s.total_steps >= 1 && s.total_steps >= s.warmup_steps, "total_steps",
                    "a step count >= max(1, warmup_steps = " << s.warmup_steps << ")",
                    s.total_steps);
}

double learning_rate(const LrSchedule& s, int64_t step) {
  validate(s);
  LONGCTX_CHECK_ARG(step >= 0, "step", "a step index >= 0", step);
  if (step < s.warmup_steps) return s.peak_lr * double(step + 1) / double(s.warmup_steps);
  if (step >= s.total_steps) return s.min_lr;
  const double progress = double(step - s.warmup_steps) / double(s.total_steps - s.warmup_steps);
  return s.min_lr + 0.5 * (s.peak_lr - s.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace longctx::train
