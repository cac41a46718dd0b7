// RoPE inverse frequencies as transformers 5.x (modeling_rope_utils) computes them for each
// rope_type, and the cos/sin tables that apply them.
//
// HF computes in float32 tensors: the exponent 2i/D, base^exponent, 1/x, the scalings. We follow
// the same sequence of operations in double and round to float32 where HF holds a float32
// tensor, so the result agrees with HF's to an ulp or two (the decisions that compare
// wavelengths — llama3's bands — see the same float32 values HF compares).
#include "longctx/model/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

// Rounding to float32, named so that each place HF holds a float32 tensor is visible.
inline float f32(double x) {
  return float(x);
}

// HF: torch.arange(0, dim, 2).float() / dim, a float32 division.
float exponent(int64_t i, int64_t dim) {
  return f32(double(f32(double(2 * i))) / double(dim));
}

// HF: base ** exponent with the Python float base promoted to the float32 tensor's dtype.
float base_power(double base, int64_t i, int64_t dim) {
  return f32(std::pow(double(f32(base)), double(exponent(i, dim))));
}

// The unscaled RoPE frequencies 1 / base^(2i/D), [D/2].
std::vector<float> default_inv_freq(double base, int64_t dim) {
  std::vector<float> inv(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i)
    inv[size_t(i)] = f32(1.0 / double(base_power(base, i, dim)));
  return inv;
}

// NTK-aware base for a forward over seq_len tokens: HF's dynamic_rope_update passes seq_len =
// max(position_ids) + 1 as an int64 tensor, so this arithmetic runs in float32 too.
double dynamic_base(const RopeConfig& rope, int64_t dim, int64_t max_pos, int64_t seq_len) {
  const double seq = double(std::max(seq_len, max_pos));
  const float factor = f32(rope.factor);
  const float ratio = f32(double(f32(double(factor) * seq)) / double(max_pos));
  const float stretched = f32(double(ratio) - double(f32(rope.factor - 1.0)));
  const float power = f32(std::pow(double(stretched), double(f32(double(dim) / double(dim - 2)))));
  return double(f32(double(f32(rope.theta)) * double(power)));
}

// YaRN: interpolate (divide by factor) the low frequencies, keep (extrapolate) the high ones,
// with a linear ramp between the dimensions that complete beta_fast and beta_slow rotations
// over the original context.
RopeFrequencies yarn(const RopeConfig& rope, int64_t dim, int64_t original) {
  RopeFrequencies out;
  const double factor = rope.factor;
  const auto mscale = [factor](double m) {
    return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0;
  };
  if (rope.attention_factor) {
    out.attention_scaling = *rope.attention_factor;
  } else if (rope.mscale.value_or(0.0) != 0.0 && rope.mscale_all_dim.value_or(0.0) != 0.0) {
    out.attention_scaling = mscale(*rope.mscale) / mscale(*rope.mscale_all_dim);
  } else {
    out.attention_scaling = mscale(1.0);
  }
  // Dimension (fractional) at which a wavelength completes `rotations` turns in `original`.
  const auto correction_dim = [&](double rotations) {
    return double(dim) * std::log(double(original) / (rotations * 2.0 * std::numbers::pi)) /
           (2.0 * std::log(rope.theta));
  };
  double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // HF's guard against a zero-width ramp
  const float ramp_width = f32(high - low);
  out.inv_freq.resize(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float pos_freq = base_power(rope.theta, i, dim);
    const float extrapolation = f32(1.0 / double(pos_freq));
    const float interpolation = f32(1.0 / double(f32(double(f32(factor)) * double(pos_freq))));
    const float ramp = std::clamp(f32(double(f32(double(i) - low)) / double(ramp_width)), 0.f, 1.f);
    const float keep = f32(1.0 - double(ramp));  // weight of the extrapolated (unscaled) frequency
    out.inv_freq[size_t(i)] = f32(double(f32(double(interpolation) * double(f32(1.0 - keep)))) +
                                  double(f32(double(extrapolation) * double(keep))));
  }
  return out;
}

// Llama 3.1: wavelengths longer than original/low_freq_factor are divided by factor, shorter
// than original/high_freq_factor kept, and blended smoothly in between.
std::vector<float> llama3(const RopeConfig& rope, int64_t dim, int64_t original) {
  std::vector<float> inv = default_inv_freq(rope.theta, dim);
  const float factor = f32(rope.factor);
  const float low_wavelen = f32(double(original) / rope.low_freq_factor);
  const float high_wavelen = f32(double(original) / rope.high_freq_factor);
  const float low = f32(rope.low_freq_factor);
  const float band = f32(rope.high_freq_factor - rope.low_freq_factor);
  for (float& f : inv) {
    const float wavelen = f32(double(f32(2.0 * std::numbers::pi)) / double(f));
    const float divided = wavelen > low_wavelen ? f32(double(f) / double(factor)) : f;
    if (wavelen < high_wavelen || wavelen > low_wavelen) {
      f = divided;
      continue;
    }
    const float smooth = f32(
        double(f32(double(f32(double(original) / double(wavelen))) - double(low))) / double(band));
    const float scaled =
        f32(double(f32(double(f32(1.0 - double(smooth))) * double(divided))) / double(factor));
    f = f32(double(scaled) + double(f32(double(smooth) * double(divided))));
  }
  return inv;
}

// LongRoPE: per-dimension rescale factors, the long ones once the sequence outgrows the
// original context; attention scaling from the context extension ratio.
RopeFrequencies longrope(const RopeConfig& rope, int64_t dim, int64_t max_pos, int64_t original,
                         int64_t seq_len) {
  const auto check = [dim](const std::vector<double>& factors, const char* key) {
    LONGCTX_CHECK_ARG(int64_t(factors.size()) == dim / 2, key, dim / 2 << " factors (head_dim / 2)",
                      factors.size());
  };
  check(rope.short_factor, "rope_parameters.short_factor");
  check(rope.long_factor, "rope_parameters.long_factor");
  RopeFrequencies out;
  // rope.hpp: a factor left at 1 is derived from the context lengths, as HF does when the
  // config gives none (config parsing pins attention_factor for an explicit factor <= 1).
  const double factor = rope.factor != 1.0 ? rope.factor : double(max_pos) / double(original);
  if (rope.attention_factor) {
    out.attention_scaling = *rope.attention_factor;
  } else if (factor > 1.0) {
    out.attention_scaling = std::sqrt(1.0 + std::log(factor) / std::log(double(original)));
  }
  const std::vector<double>& ext = seq_len > original ? rope.long_factor : rope.short_factor;
  out.inv_freq.resize(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float scaled = f32(double(f32(ext[size_t(i)])) * double(base_power(rope.theta, i, dim)));
    out.inv_freq[size_t(i)] = f32(1.0 / double(scaled));
  }
  return out;
}

}  // namespace

RopeFrequencies rope_frequencies(const RopeConfig& rope, int64_t head_dim,
                                 int64_t max_position_embeddings, int64_t seq_len) {
  LONGCTX_CHECK_ARG(head_dim >= 2 && head_dim % 2 == 0, "head_dim", "an even size >= 2", head_dim);
  LONGCTX_CHECK_ARG(max_position_embeddings > 0, "max_position_embeddings", "> 0",
                    max_position_embeddings);
  LONGCTX_CHECK_ARG(seq_len >= 0, "seq_len", ">= 0", seq_len);
  LONGCTX_CHECK_ARG(rope.theta > 1.0, "rope_theta", "a base > 1", rope.theta);
  LONGCTX_CHECK_ARG(rope.factor > 0.0, "rope_parameters.factor", "> 0", rope.factor);
  const int64_t dim = head_dim;
  const int64_t original = rope.original_max_position_embeddings > 0
                               ? rope.original_max_position_embeddings
                               : max_position_embeddings;
  RopeFrequencies out;
  switch (rope.type) {
    case RopeType::standard:
      out.inv_freq = default_inv_freq(rope.theta, dim);
      break;
    case RopeType::linear:
      // Position interpolation m → m / factor, applied to the frequencies instead.
      out.inv_freq = default_inv_freq(rope.theta, dim);
      for (float& f : out.inv_freq) f = f32(double(f) / double(f32(rope.factor)));
      break;
    case RopeType::dynamic:
      out.inv_freq =
          default_inv_freq(dynamic_base(rope, dim, max_position_embeddings, seq_len), dim);
      break;
    case RopeType::yarn:
      out = yarn(rope, dim, original);
      break;
    case RopeType::llama3:
      LONGCTX_CHECK_ARG(
          rope.high_freq_factor > rope.low_freq_factor, "rope_parameters.high_freq_factor",
          "> low_freq_factor (" << rope.low_freq_factor << ")", rope.high_freq_factor);
      out.inv_freq = llama3(rope, dim, original);
      break;
    case RopeType::longrope:
      out = longrope(rope, dim, max_position_embeddings, original, seq_len);
      break;
  }
  return out;
}

RotaryEmbedding::RotaryEmbedding(RopeFrequencies frequencies, int64_t head_dim)
    : frequencies_(std::move(frequencies)), head_dim_(head_dim) {
  LONGCTX_CHECK_ARG(head_dim >= 2 && head_dim % 2 == 0, "head_dim", "an even size >= 2", head_dim);
  LONGCTX_CHECK_ARG(int64_t(frequencies_.inv_freq.size()) == head_dim / 2, "inv_freq",
                    head_dim / 2 << " frequencies (head_dim / 2)", frequencies_.inv_freq.size());
}

void RotaryEmbedding::reserve(int64_t count) {
  const int64_t half = head_dim_ / 2;
  const int64_t have = half > 0 ? int64_t(cos_.size()) / half : 0;
  if (count <= have || half == 0) return;
  cos_.resize(size_t(count * half));
  sin_.resize(size_t(count * half));
  const double scaling = frequencies_.attention_scaling;
  const float scaling_f = f32(scaling);
#pragma omp parallel for schedule(static) if ((count - have) * half > 16384)
  for (int64_t p = have; p < count; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      // HF forms the angle as a float32 product (inv_freq @ positions); past a few thousand
      // tokens its rounding (ulp 2^-9 at 32K) is visible in the logits, so keep it.
      const float angle = f32(double(f32(double(p))) * double(frequencies_.inv_freq[size_t(i)]));
      float c = f32(std::cos(double(angle))), s = f32(std::sin(double(angle)));
      if (scaling != 1.0) {
        c = f32(double(c) * double(scaling_f));
        s = f32(double(s) * double(scaling_f));
      }
      cos_[size_t(p * half + i)] = c;
      sin_[size_t(p * half + i)] = s;
    }
  }
}

void RotaryEmbedding::apply(float* x, int64_t tokens, int64_t heads, int64_t token_stride,
                            const int64_t* positions, bool transpose) const {
  const int64_t half = head_dim_ / 2;
  LONGCTX_CHECK_ARG(head_dim_ > 0, "rotary embedding", "constructed with frequencies",
                    "an empty one");
  LONGCTX_CHECK_ARG(tokens >= 0 && heads >= 0, "x", "non-negative tokens and heads",
                    tokens << " tokens, " << heads << " heads");
  if (tokens == 0 || heads == 0) return;
  LONGCTX_CHECK_ARG(token_stride >= heads * head_dim_, "token_stride",
                    ">= heads × head_dim = " << heads * head_dim_, token_stride);
  LONGCTX_CHECK_ARG(x != nullptr && positions != nullptr, "x", "non-null x and positions",
                    "a null pointer");
  const int64_t reserved = int64_t(cos_.size()) / half;
  for (int64_t t = 0; t < tokens; ++t) {
    LONGCTX_CHECK_ARG(positions[t] >= 0 && positions[t] < reserved, "positions",
                      "values in [0, " << reserved << ") (call reserve() first)",
                      positions[t] << " at token " << t);
  }
#pragma omp parallel for schedule(static) if (tokens * heads * head_dim_ > 32768)
  for (int64_t t = 0; t < tokens; ++t) {
    const float* cos = cos_.data() + positions[t] * half;  // [half]
    const float* sin = sin_.data() + positions[t] * half;  // [half]
    const float sign = transpose ? -1.f : 1.f;
    for (int64_t h = 0; h < heads; ++h) {
      float* row = x + t * token_stride + h * head_dim_;  // [head_dim]: pairs (i, i + half)
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = row[i], x2 = row[i + half];
        row[i] = x1 * cos[i] - sign * x2 * sin[i];
        row[i + half] = x2 * cos[i] + sign * x1 * sin[i];
      }
    }
  }
}

}  // namespace longctx::model
