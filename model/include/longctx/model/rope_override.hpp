// `--rope-scaling` on the command line: replaces the config's RoPE scaling, as one would edit
// rope_parameters in config.json, to extend a model past its training length.
//   none | linear:F | dynamic:F | yarn:F[:ORIGINAL] | llama3:F[:ORIGINAL[:LOW:HIGH]]
// ORIGINAL (the trained context) defaults to the config's max_position_embeddings; for yarn and
// llama3 max_position_embeddings becomes ORIGINAL·F as in the published configs. longrope needs
// per-dimension factor lists and so only comes from config.json.
#pragma once

#include <string_view>

#include "longctx/model/config.hpp"

namespace longctx::model {

// ArgumentError naming "--rope-scaling" with the accepted forms.
void apply_rope_scaling_override(ModelConfig& config, std::string_view spec);

}  // namespace longctx::model
