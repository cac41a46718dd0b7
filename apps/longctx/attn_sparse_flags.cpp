// The sparse-mask flags of `longctx attn` (see attn_sparse_flags.hpp).
#include "attn_sparse_flags.hpp"

#include <fmt/format.h>

#include "longctx/core/error.hpp"
#include "longctx/sparse/block_sparse.hpp"

namespace longctx::app {
namespace {

bool given(const CLI::App& app, const char* flag) {
  return app.count(flag) > 0;
}

// A flag that only means something with one --mask value.
void require_mask(const CLI::App& app, const char* flag, const std::string& mask,
                  const char* wanted) {
  LONGCTX_CHECK_ARG(!given(app, flag) || mask == wanted, flag, "to be used with --mask " << wanted,
                    "--mask " << mask);
}

std::string segments_text(const sparse::DilatedSpec& d) {
  std::string text;
  for (const sparse::DilatedPattern& p : d.patterns)
    text += fmt::format("{}{}:{}", text.empty() ? "" : ",", p.segment, p.dilation);
  return text;
}

void apply_block_sparse(const CLI::App& app, const SparseMaskFlags& f, AttnConfig& c) {
  c.mask = MaskKind::causal;  // partial blocks evaluate causality (plus --window / --global)
  // Queries sit at positions M - N + i: with N > M some would be negative, outside any grid.
  LONGCTX_CHECK_ARG(c.seq <= c.seq_k, "--seq",
                    "at most --seq-k (" << c.seq_k << ") for --mask block-sparse", c.seq);
  if (!f.layout_file.empty()) {
    for (const char* flag : {"--block", "--density"})
      LONGCTX_CHECK_ARG(!given(app, flag), flag, "no value with --layout-file (the file sets it)",
                        "both");
    auto grid = std::make_shared<BlockSparseGrid>(
        sparse::load_block_sparse(f.layout_file, "--layout-file"));
    LONGCTX_CHECK_ARG(
        grid->q_blocks * grid->block_q >= c.seq_k && grid->k_blocks * grid->block_k >= c.seq_k,
        "--layout-file", "a grid covering " << c.seq_k << " positions on both axes",
        grid->q_blocks << " x " << grid->block_q << " query and " << grid->k_blocks << " x "
                       << grid->block_k << " key positions");
    c.block_sparse = std::move(grid);
    return;
  }
  LONGCTX_CHECK_ARG(f.block >= 8 && f.block % 8 == 0, "--block", "a positive multiple of 8",
                    f.block);
  LONGCTX_CHECK_ARG(f.density >= 0.0 && f.density <= 1.0, "--density", "a value in [0, 1]",
                    f.density);
  sparse::RandomLayoutOptions o;
  o.block = f.block;
  o.density = f.density;
  o.seed = c.seed;
  o.causal = true;
  c.block_sparse =
      std::make_shared<BlockSparseGrid>(sparse::random_block_sparse(c.seq_k, c.seq_k, o));
}

}  // namespace

const std::vector<std::string>& sparse_mask_names() {
  static const std::vector<std::string> names = {"local-global", "dilated", "block-sparse"};
  return names;
}

void add_sparse_mask_flags(CLI::App& app, SparseMaskFlags& f) {
  app.add_option("--global", f.global_tokens,
                 "global tokens: positions [0, G) see and are seen by all (needs --window)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  app.add_option("--segments", f.segments,
                 "dilated patterns w:r,... (segment w strictly increasing, dilation 1 <= r <= w)");
  app.add_option("--block", f.block, "block-sparse: positions per block (a multiple of 8)");
  app.add_option("--density", f.density,
                 "block-sparse: probability that a block below the diagonal is kept");
  app.add_option("--layout-file", f.layout_file,
                 "block-sparse: layout file ('block-sparse BQ BK', 'grid QB KB', rows of 0/1/2)")
      ->default_str("");
}

void apply_sparse_mask_flags(const CLI::App& app, const std::string& mask, const SparseMaskFlags& f,
                             AttnConfig& c) {
  require_mask(app, "--segments", mask, "dilated");
  for (const char* flag : {"--block", "--density", "--layout-file"})
    require_mask(app, flag, mask, "block-sparse");
  LONGCTX_CHECK_ARG(f.global_tokens == 0 || (c.window && mask != "dilated"), "--global",
                    "a --window to relax (and no --mask dilated)",
                    f.global_tokens << " without a window");
  c.global_tokens = f.global_tokens;
  if (mask == "local-global") {
    c.mask = MaskKind::full;  // bidirectional, as Longformer / ModernBERT encoders
    LONGCTX_CHECK_ARG(c.window.has_value(), "--window", "L,R with --mask local-global", "none");
    LONGCTX_CHECK_ARG(f.global_tokens >= 1, "--global",
                      ">= 1 with --mask local-global (--mask full --window is a plain window)",
                      f.global_tokens);
  } else if (mask == "dilated") {
    LONGCTX_CHECK_ARG(c.seq_k == c.seq, "--seq-k",
                      "equal to --seq (dilated attention is self-attention)", c.seq_k);
    LONGCTX_CHECK_ARG(!c.window, "--window", "no window with --mask dilated", "a window");
    sparse::DilatedSpec d;
    d.patterns = sparse::parse_dilated_patterns(f.segments, "--segments");
    d.causal = true;
    c.mask = MaskKind::causal;
    c.dilated = d;
  } else if (mask == "block-sparse") {
    apply_block_sparse(app, f, c);
  }
}

std::string mask_name(const AttnConfig& c) {
  if (c.dilated) return "dilated";
  if (c.block_sparse) return "block-sparse";
  if (c.global_tokens > 0)
    return c.mask == MaskKind::causal ? "causal-local-global" : "local-global";
  return c.mask == MaskKind::causal ? "causal" : "full";
}

std::string sparse_mask_details(const AttnConfig& c) {
  std::string s;
  if (c.global_tokens > 0) s += fmt::format(" global({})", c.global_tokens);
  if (c.dilated) s += " segments(" + segments_text(*c.dilated) + ")";
  if (c.block_sparse)
    s += fmt::format(" blocks({}x{}, {:.3f} kept)", c.block_sparse->block_q,
                     c.block_sparse->block_k, sparse::block_density(*c.block_sparse));
  return s;
}

void add_sparse_mask_json(const AttnConfig& c, const SparseMaskFlags& f, nlohmann::json& j) {
  j["mask"] = mask_name(c);
  if (c.global_tokens > 0) j["global_tokens"] = c.global_tokens;
  if (c.dilated) {
    nlohmann::json segments = nlohmann::json::array();
    for (const sparse::DilatedPattern& p : c.dilated->patterns)
      segments.push_back({p.segment, p.dilation});
    j["segments"] = segments;
  }
  if (c.block_sparse) {
    const BlockSparseGrid& g = *c.block_sparse;
    j["block_sparse"] = {{"block_q", g.block_q},
                         {"block_k", g.block_k},
                         {"q_blocks", g.q_blocks},
                         {"k_blocks", g.k_blocks},
                         {"kept_fraction", sparse::block_density(g)}};
    if (!f.layout_file.empty()) {
      j["layout_file"] = f.layout_file;
    } else {
      j["block"] = f.block;
      j["density"] = f.density;
    }
  }
}

}  // namespace longctx::app
