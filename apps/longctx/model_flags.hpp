// Help texts of the flags the model commands share (run, passkey, train), so that they describe
// the same syntax in the same words.
#pragma once

namespace longctx::app {

inline constexpr const char* kAttentionFlagHelp =
    "per-layer schedule: config | dense | window:W | local-global[:E[:W[:THETA]]] | "
    "dilated[:w:r,...] | dsa:K | topk-exact:K, or one per layer joined by ';'";
inline constexpr const char* kRopeScalingFlagHelp =
    "override RoPE scaling: none | linear:F | dynamic:F | yarn:F[:ORIG] | "
    "llama3:F[:ORIG[:LOW:HIGH]]";

}  // namespace longctx::app
