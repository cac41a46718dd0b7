// Which SIMD target the CPU kernels run on (cpu_attention.hpp's simd_target_name) and the
// test hook that forces one (simd_targets.hpp).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/cpu_info.cpp"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep (must precede highway.h)
// clang-format on
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::cpu::HWY_NAMESPACE {

// Compiled once per target: dispatch picks the same target as the attention kernels.
const char* CurrentTargetName() {
  return hwy::TargetName(HWY_TARGET);
}

}  // namespace longctx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cstdint>

#include "cpu/cpu_attention.hpp"
#include "cpu/simd_targets.hpp"
#include "hwy/targets.h"
#include "longctx/core/error.hpp"

namespace longctx::cpu {
namespace {

int64_t g_forced_target = 0;  // 0: automatic

// Compiled targets the CPU supports, ignoring any forced choice.
std::vector<int64_t> available_target_bits() {
  if (g_forced_target != 0) hwy::SetSupportedTargetsForTest(0);
  std::vector<int64_t> bits = hwy::SupportedAndGeneratedTargets();  // lowest bit = best first
  if (g_forced_target != 0) hwy::SetSupportedTargetsForTest(g_forced_target);
  return bits;
}

}  // namespace

HWY_EXPORT(CurrentTargetName);

const char* simd_target_name() {
  return HWY_DYNAMIC_DISPATCH(CurrentTargetName)();
}

std::vector<std::string> simd_available_targets() {
  std::vector<std::string> names;
  for (int64_t bit : available_target_bits()) names.emplace_back(hwy::TargetName(bit));
  return names;
}

void simd_force_target(const std::string& name) {
  if (name.empty()) {
    g_forced_target = 0;
    hwy::SetSupportedTargetsForTest(0);
    return;
  }
  std::string known;
  for (int64_t bit : available_target_bits()) {
    if (name == hwy::TargetName(bit)) {
      g_forced_target = bit;
      hwy::SetSupportedTargetsForTest(bit);
      return;
    }
    known += (known.empty() ? "" : ", ") + std::string(hwy::TargetName(bit));
  }
  throw ArgumentError("simd target", "one of " + known, "'" + name + "'");
}

}  // namespace longctx::cpu
#endif  // HWY_ONCE
