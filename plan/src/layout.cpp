// Parsing and validation of parallel layouts: every rejection names the flag and what it expects.
#include "longctx/plan/layout.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx::plan {
namespace {

bool parse_positive(std::string_view text, int64_t& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && value > 0;
}

}  // namespace

void parse_cp_kind(const std::string& text, int64_t cp, Layout& layout) {
  const char* expected = "ring, zigzag, striped, ulysses, allgather or usp:UxR with U·R = --cp";
  layout.ulysses = 1;
  layout.ring = cp;
  if (text == "ring") {
    layout.cp_kind = CpKind::ring;
  } else if (text == "zigzag") {
    layout.cp_kind = CpKind::zigzag;
  } else if (text == "striped") {
    layout.cp_kind = CpKind::striped;
  } else if (text == "ulysses") {
    layout.cp_kind = CpKind::ulysses;
    layout.ulysses = cp;
    layout.ring = 1;
  } else if (text == "allgather") {
    layout.cp_kind = CpKind::allgather;
    layout.ring = 1;
  } else if (text.rfind("usp:", 0) == 0) {
    const std::string_view spec = std::string_view(text).substr(4);
    const size_t x = spec.find('x');
    int64_t u = 0, r = 0;
    LONGCTX_CHECK_ARG(x != std::string_view::npos && parse_positive(spec.substr(0, x), u) &&
                          parse_positive(spec.substr(x + 1), r),
                      "--cp-kind", expected, "'" << text << "'");
    LONGCTX_CHECK_ARG(u * r == cp, "--cp-kind", "usp:UxR with U·R = --cp = " + std::to_string(cp),
                      "'" << text << "' (U·R = " << u * r << ")");
    layout.cp_kind = CpKind::usp;
    layout.ulysses = u;
    layout.ring = r;
  } else {
    throw ArgumentError("--cp-kind", expected, "'" + text + "'");
  }
  layout.cp = cp;
}

std::string cp_kind_name(const Layout& layout) {
  switch (layout.cp_kind) {
    case CpKind::ring:
      return "ring";
    case CpKind::zigzag:
      return "zigzag";
    case CpKind::striped:
      return "striped";
    case CpKind::ulysses:
      return "ulysses";
    case CpKind::allgather:
      return "allgather";
    case CpKind::usp:
      return "usp:" + std::to_string(layout.ulysses) + "x" + std::to_string(layout.ring);
  }
  return "?";
}

Recompute parse_recompute(const std::string& text) {
  if (text == "none") return Recompute::none;
  if (text == "selective") return Recompute::selective;
  if (text == "full") return Recompute::full;
  throw ArgumentError("--recompute", "none, selective or full", "'" + text + "'");
}

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::none:
      return "none";
    case Recompute::selective:
      return "selective";
    case Recompute::full:
      return "full";
  }
  return "?";
}

int parse_dtype_bytes(const std::string& text) {
  if (text == "bf16" || text == "fp16") return 2;
  if (text == "fp32") return 4;
  throw ArgumentError("--dtype", "bf16, fp16 or fp32", "'" + text + "'");
}

int64_t sequence_granularity(const Layout& layout) {
  // Zigzag (and the zigzag ring inside usp) splits the sequence into 2·(ring size) chunks.
  if (layout.cp_kind == CpKind::zigzag || layout.cp_kind == CpKind::usp) return 2 * layout.cp;
  return layout.cp;
}

void validate(const ModelConfig& model, Layout& layout, const Workload& work) {
  validate_model(model, "--model");
  const int64_t t = layout.tp;
  LONGCTX_CHECK_ARG(t >= 1 && model.heads % t == 0, "--tp",
                    "a divisor of num_attention_heads = " + std::to_string(model.heads), t);
  LONGCTX_CHECK_ARG(
      model.kv_heads % t == 0 || t % model.kv_heads == 0, "--tp",
      "a divisor or a multiple of num_key_value_heads = " + std::to_string(model.kv_heads), t);
  LONGCTX_CHECK_ARG(model.intermediate % t == 0, "--tp",
                    "a divisor of intermediate_size = " + std::to_string(model.intermediate), t);
  LONGCTX_CHECK_ARG(layout.cp >= 1, "--cp", "a context-parallel degree >= 1", layout.cp);
  // allgather splits the sequence c ways without an all-to-all or a ring (both degrees 1).
  const bool degrees_match = layout.cp_kind == CpKind::allgather
                                 ? layout.ulysses == 1 && layout.ring == 1
                                 : layout.ulysses * layout.ring == layout.cp;
  LONGCTX_CHECK_ARG(degrees_match, "--cp-kind",
                    "a kind whose degrees multiply to --cp = " + std::to_string(layout.cp),
                    cp_kind_name(layout));
  const int64_t heads_per_tp = model.heads / t;
  const char* ulysses_flag = layout.cp_kind == CpKind::usp ? "--cp-kind" : "--cp";
  LONGCTX_CHECK_ARG(heads_per_tp % layout.ulysses == 0, ulysses_flag,
                    "a Ulysses degree dividing the heads per TP rank (" +
                        std::to_string(model.heads) + "/" + std::to_string(t) + " = " +
                        std::to_string(heads_per_tp) + ")",
                    layout.ulysses);
  const int64_t kv_per_tp = std::max<int64_t>(model.kv_heads / t, 1);
  LONGCTX_CHECK_ARG(kv_per_tp % layout.ulysses == 0 || layout.ulysses % kv_per_tp == 0,
                    ulysses_flag,
                    "a Ulysses degree dividing, or a multiple of, the KV heads per TP rank (" +
                        std::to_string(kv_per_tp) + ")",
                    layout.ulysses);
  LONGCTX_CHECK_ARG(work.gpus >= 1 && work.gpus % (t * layout.cp) == 0, "--gpus",
                    "a multiple of tp·cp = " + std::to_string(t * layout.cp) + " (gpus = tp·cp·dp)",
                    work.gpus);
  layout.dp = work.gpus / (t * layout.cp);
  LONGCTX_CHECK_ARG(layout.zero >= 0 && layout.zero <= 3, "--zero", "a ZeRO stage 0..3",
                    layout.zero);
  LONGCTX_CHECK_ARG(work.batch >= 1, "--batch", "a micro-batch >= 1", work.batch);
  const int64_t step = sequence_granularity(layout);
  LONGCTX_CHECK_ARG(work.seq >= 1 && work.seq % step == 0, "--seq",
                    "a positive multiple of " + std::to_string(step) + " for " +
                        cp_kind_name(layout) + " over cp = " + std::to_string(layout.cp),
                    work.seq);
  LONGCTX_CHECK_ARG(work.gpu_mem_bytes > 0, "--gpu-mem", "a positive size in GiB",
                    work.gpu_mem_bytes / double(1ull << 30));
  LONGCTX_CHECK_ARG(work.dtype_bytes == 2 || work.dtype_bytes == 4, "--dtype", "bf16, fp16 or fp32",
                    work.dtype_bytes << " bytes");
}

std::string describe(const Layout& layout) {
  // ostringstream rather than string operator+: GCC 12 warns falsely (-Wrestrict) on the latter.
  std::ostringstream s;
  s << "tp" << layout.tp;
  if (layout.sequence_parallel && layout.tp > 1) s << "+sp";
  s << " cp" << layout.cp;
  if (layout.cp > 1) s << " " << cp_kind_name(layout);
  s << " dp" << layout.dp << " zero" << layout.zero << " " << recompute_name(layout.recompute);
  if (!layout.flash) s << " no-flash";
  return s.str();
}

}  // namespace longctx::plan
