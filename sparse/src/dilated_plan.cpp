// Dilated patterns: parsing, validation, the predicate, pair counts, and the split of a mixture
// into compact dense problems (dilated_plan.hpp).
#include "dilated_plan.hpp"

#include <map>
#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx::sparse {

std::vector<DilatedPattern> longnet_patterns() {
  return {{2048, 1}, {4096, 2}, {8192, 4}, {16384, 6}, {32768, 12}};
}

std::vector<DilatedPattern> parse_dilated_patterns(const std::string& text,
                                                   const std::string& argument) {
  const char* expected =
      "comma-separated w:r pairs with integers w >= 1, 1 <= r <= w, w increasing "
      "(e.g. 2048:1,4096:2,8192:4)";
  std::vector<DilatedPattern> out;
  std::istringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t colon = item.find(':');
    LONGCTX_CHECK_ARG(colon != std::string::npos, argument, expected, "'" << text << "'");
    DilatedPattern p;
    try {
      size_t used_w = 0, used_r = 0;
      const std::string w = item.substr(0, colon), r = item.substr(colon + 1);
      p.segment = std::stoll(w, &used_w);
      p.dilation = std::stoll(r, &used_r);
      LONGCTX_CHECK_ARG(used_w == w.size() && used_r == r.size(), argument, expected,
                        "'" << text << "'");
    } catch (const std::logic_error& e) {  // stoll: invalid_argument / out_of_range
      if (dynamic_cast<const ArgumentError*>(&e)) throw;
      throw ArgumentError(argument, expected, "'" + text + "'");
    }
    out.push_back(p);
  }
  LONGCTX_CHECK_ARG(!out.empty() && text.back() != ',', argument, expected, "'" << text << "'");
  DilatedSpec spec;
  spec.patterns = out;
  try {
    validate_dilated(spec);
  } catch (const ArgumentError&) {
    throw ArgumentError(argument, expected, "'" + text + "'");
  }
  return out;
}

void validate_dilated(const DilatedSpec& spec) {
  LONGCTX_CHECK_ARG(!spec.patterns.empty(), "patterns", "at least one (segment, dilation) pattern",
                    "none");
  for (size_t i = 0; i < spec.patterns.size(); ++i) {
    const DilatedPattern& p = spec.patterns[i];
    LONGCTX_CHECK_ARG(p.segment >= 1, "patterns", "segment lengths w >= 1",
                      "w = " << p.segment << " in pattern " << i);
    LONGCTX_CHECK_ARG(p.dilation >= 1 && p.dilation <= p.segment, "patterns",
                      "dilations r in [1, w]",
                      "r = " << p.dilation << " with w = " << p.segment << " in pattern " << i);
    if (i > 0)
      LONGCTX_CHECK_ARG(p.segment > spec.patterns[i - 1].segment, "patterns",
                        "strictly increasing segment lengths",
                        "w = " << spec.patterns[i - 1].segment << " then " << p.segment);
  }
  LONGCTX_CHECK_ARG(spec.scale >= 0.f && spec.scale < 1e30f, "scale",
                    "a finite non-negative softmax scale (0 = 1/sqrt(D))", spec.scale);
}

bool dilated_visible(const DilatedPattern& p, bool causal, int64_t head, int64_t i, int64_t j) {
  if (i / p.segment != j / p.segment) return false;
  const int64_t s0 = i / p.segment * p.segment, o = head % p.dilation;
  if ((i - s0) % p.dilation != o || (j - s0) % p.dilation != o) return false;
  return !causal || j <= i;
}

int64_t dilated_pair_count(const DilatedSpec& spec, int64_t n, int64_t heads) {
  int64_t pairs = 0;
  for (const detail::CompactGroup& g : detail::compact_groups(spec, n, heads, 1)) {
    const int64_t per = spec.causal ? g.len * (g.len + 1) / 2 : g.len * g.len;
    pairs += per * g.segments * int64_t(g.heads.size());
  }
  return pairs;
}

namespace detail {

std::vector<CompactGroup> compact_groups(const DilatedSpec& spec, int64_t n, int64_t heads,
                                         int64_t kv_heads) {
  validate_dilated(spec);
  const int64_t group = heads / kv_heads;
  std::vector<CompactGroup> groups;
  for (const DilatedPattern& p : spec.patterns) {
    const int64_t w = p.segment, r = p.dilation;
    const KvMode mode = group % r == 0 ? KvMode::shared
                        : group == 1   ? KvMode::strided
                                       : KvMode::gathered;
    const int64_t full = n / w, tail = n % w;
    // (first segment, count, length) of the full segments and of the shorter last one.
    const int64_t runs[2][3] = {{0, full, w}, {full, tail > 0 ? 1 : 0, tail}};
    for (const auto& run : runs) {
      if (run[1] == 0) continue;
      // Problems keyed by offset (single-offset modes) or by compact length (gathered).
      std::map<int64_t, std::vector<int64_t>> by_key;
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t o = h % r;
        if (o >= run[2]) continue;  // a segment shorter than the offset has no such rows
        by_key[mode == KvMode::gathered ? (run[2] - o + r - 1) / r : o].push_back(h);
      }
      for (auto& [key, hs] : by_key) {
        CompactGroup g;
        g.segment = w;
        g.dilation = r;
        g.first_segment = run[0];
        g.segments = run[1];
        g.kv_mode = mode;
        g.offset = mode == KvMode::gathered ? -1 : key;
        g.len = mode == KvMode::gathered ? key : (run[2] - key + r - 1) / r;
        g.heads = std::move(hs);
        groups.push_back(std::move(g));
      }
    }
  }
  return groups;
}

}  // namespace detail
}  // namespace longctx::sparse
