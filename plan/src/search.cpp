// Exhaustive layout search: every divisor split of P into t·c·dp, every CP kind (usp for every
// U·R factorisation), ZeRO 0..3 and the recompute policies that differ under the flash setting.
#include "longctx/plan/search.hpp"

#include <algorithm>
#include <string>

#include "longctx/core/error.hpp"

namespace longctx::plan {
namespace {

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t k = 1; k <= n; ++k) {
    if (n % k == 0) out.push_back(k);
  }
  return out;
}

std::vector<std::string> cp_kinds(int64_t c) {
  if (c == 1) return {"ring"};
  std::vector<std::string> kinds = {"ring", "zigzag", "striped", "ulysses", "allgather"};
  for (int64_t u : divisors(c)) {
    if (u > 1 && u < c) kinds.push_back("usp:" + std::to_string(u) + "x" + std::to_string(c / u));
  }
  return kinds;
}

}  // namespace

std::vector<Layout> enumerate_layouts(const ModelConfig& m, const Workload& w, bool flash) {
  // With flash the score tensors are never stored, so selective recompute equals none.
  std::vector<Recompute> policies = {Recompute::none, Recompute::full};
  if (!flash) policies.insert(policies.begin() + 1, Recompute::selective);
  std::vector<Layout> out;
  for (int64_t t : divisors(w.gpus)) {
    for (bool sp : t > 1 ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      for (int64_t c : divisors(w.gpus / t)) {
        for (const std::string& kind : cp_kinds(c)) {
          for (int zero = 0; zero <= 3; ++zero) {
            for (Recompute rc : policies) {
              Layout l;
              l.tp = t;
              l.sequence_parallel = sp;
              l.zero = zero;
              l.recompute = rc;
              l.flash = flash;
              try {
                parse_cp_kind(kind, c, l);
                validate(m, l, w);
              } catch (const ArgumentError&) {
                continue;  // e.g. t does not divide the heads, or s not splittable
              }
              out.push_back(l);
            }
          }
        }
      }
    }
  }
  return out;
}

std::vector<Candidate> search_layouts(const ModelConfig& m, const Workload& w, const Hardware& hw,
                                      double usable_bytes, const SearchOptions& options) {
  std::vector<Candidate> out;
  for (const Layout& l : enumerate_layouts(m, w, options.flash)) {
    Candidate c;
    c.layout = l;
    c.memory = predict_memory(m, l, w);
    c.time = predict_step_time(m, l, w, hw);
    c.fits = c.memory.total() <= usable_bytes;
    if (options.with_max_context) c.max_context = max_context(m, l, w, usable_bytes);
    if (c.fits || options.include_infeasible) out.push_back(c);
  }
  std::stable_sort(out.begin(), out.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.fits != b.fits) return a.fits;
    if (options.with_max_context && a.max_context != b.max_context) {
      return a.max_context > b.max_context;
    }
    if (a.seconds_per_sequence() != b.seconds_per_sequence()) {
      return a.seconds_per_sequence() < b.seconds_per_sequence();
    }
    return a.memory.total() < b.memory.total();
  });
  return out;
}

}  // namespace longctx::plan
