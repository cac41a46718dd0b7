// `longctx attn` flags of the sparse masks (issue 3):
//   --mask local-global --window L,R --global G    sliding window + G global positions
//   --mask dilated --segments w:r,w:r,...          LongNet mixture (causal within segments)
//   --mask block-sparse --block B --density D      random causal block layout (seeded by --seed)
//   --mask block-sparse --layout-file PATH         layout from a file
//   (longctx/sparse/block_sparse.hpp)
// --global also works with --mask full|causal and a --window. Flags that do not fit the mask are
// errors naming the flag (exit code 2).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attn_case.hpp"

namespace longctx::app {

struct SparseMaskFlags {
  int64_t global_tokens = 0;
  std::string segments = "2048:1,4096:2,8192:4,16384:6,32768:12";  // LongNet LM settings
  int64_t block = 128;
  double density = 0.1;
  std::string layout_file;
};

// The --mask values handled here.
const std::vector<std::string>& sparse_mask_names();

void add_sparse_mask_flags(CLI::App& app, SparseMaskFlags& flags);

// After parsing and after the dense fields of `config` (seq, seq_k, window, seed) are resolved:
// checks the flags against `mask` (the --mask value) and sets the sparse fields of `config`.
// Throws ArgumentError naming the flag.
void apply_sparse_mask_flags(const CLI::App& app, const std::string& mask,
                             const SparseMaskFlags& flags, AttnConfig& config);

// The mask's name for reports: full, causal, local-global, dilated, block-sparse.
std::string mask_name(const AttnConfig& config);
// Extra words for the configuration line, e.g. " global(16)" or " segments(2048:1,4096:2)".
std::string sparse_mask_details(const AttnConfig& config);
// The sparse masks' JSON keys: global_tokens, segments, block_sparse {...}, layout_file.
void add_sparse_mask_json(const AttnConfig& config, const SparseMaskFlags& flags,
                          nlohmann::json& j);

}  // namespace longctx::app
