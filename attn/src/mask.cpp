// Resolving an AttentionSpec's mask against concrete sizes.
#include "longctx/attn/mask.hpp"

#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx {

std::string AttentionSpec::describe() const {
  std::ostringstream os;
  os << (mask == MaskKind::causal ? "causal" : "full");
  if (window) os << " window(" << window->left << "," << window->right << ")";
  if (q_doc_ids) os << " docs";
  if (q_positions || k_positions) os << " positions";
  return os.str();
}

ResolvedMask resolve_mask(const AttentionSpec& spec, int64_t n, int64_t m) {
  LONGCTX_CHECK_ARG(n > 0, "q", "at least one query row (N >= 1)", "N = " << n);
  LONGCTX_CHECK_ARG(m > 0, "k", "at least one key row (M >= 1)", "M = " << m);
  ResolvedMask r;
  r.causal = spec.mask == MaskKind::causal;
  if (spec.window) {
    LONGCTX_CHECK_ARG(spec.window->left >= 0 && spec.window->right >= 0, "window",
                      "non-negative (left, right)",
                      "(" << spec.window->left << ", " << spec.window->right << ")");
    r.has_window = true;
    r.left = spec.window->left;
    r.right = spec.window->right;
  }
  LONGCTX_CHECK_ARG((spec.q_doc_ids == nullptr) == (spec.k_doc_ids == nullptr),
                    spec.q_doc_ids ? "k_doc_ids" : "q_doc_ids",
                    "document ids for both queries and keys (or neither)", "only one of them");
  r.q_doc_ids = spec.q_doc_ids;
  r.k_doc_ids = spec.k_doc_ids;
  r.q_pos = spec.q_positions.value_or(Positions::from_offset(m - n));
  r.k_pos = spec.k_positions.value_or(Positions::from_offset(0));
  r.n = n;
  r.m = m;
  return r;
}

}  // namespace longctx
