// Run-time SIMD target selection of the CPU kernels (Highway dynamic dispatch), with a hook
// for tests to run every compiled ISA on this machine.
#pragma once

#include <string>
#include <vector>

namespace longctx::cpu {

// Targets compiled into the library that this CPU supports, best first ("AVX3", "AVX2",
// "SSE4", "SSSE3", "EMU128" on x86-64). Unaffected by simd_force_target.
std::vector<std::string> simd_available_targets();

// Test hook: makes every CPU kernel dispatch to `name` (one of simd_available_targets());
// an empty name restores the automatic choice (the best target). Not thread-safe: call it
// while no kernel runs. Throws ArgumentError for a name that is not available.
void simd_force_target(const std::string& name);

}  // namespace longctx::cpu
