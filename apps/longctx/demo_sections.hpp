// `longctx demo` is a list of sections; each runs a few measured rows (one problem size each) and
// appends them to the shared table. Later features (sparse attention, distributed schedules)
// add a section: write a function `void run_xxx(DemoContext&)` and list it in demo_sections.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "longctx/core/timer.hpp"

namespace longctx::app {

// One line of the final table.
struct DemoRow {
  std::string section;  // e.g. "exact causal forward"
  std::string what;     // e.g. "fwd f32 H=4 d=128"
  int64_t tokens = 0;   // sequence length N (= M)
  double ms = 0.0;
  std::optional<double> gflops;
  int64_t peak_rss_bytes = 0;       // resident-set high-water mark of this row's run
  double naive_bytes = 0.0;         // what a naive implementation would hold (N² scores)
  std::optional<double> max_error;  // max relative error vs the float64 oracle
  std::optional<double> tolerance;
  bool passed = true;
  std::string note;  // e.g. "skipped: time budget"
};

struct DemoSettings {
  int threads = 0;          // resolved thread count
  int64_t max_seq = 65536;  // longest sequence any section may use
  bool quick = false;       // seconds instead of minutes (tests)
  double budget_s = 150.0;  // rows projected to end past this are skipped
  uint64_t seed = 0;
};

class DemoContext {
 public:
  explicit DemoContext(DemoSettings settings) : settings_(settings) {}
  const DemoSettings& settings() const { return settings_; }
  double elapsed_s() const { return clock_.elapsed_ms() / 1000.0; }
  // True when a row estimated to take `seconds` still ends within the budget.
  bool fits_budget(double seconds) const { return elapsed_s() + seconds <= settings_.budget_s; }
  // Appends a row and prints a progress line on stderr.
  void add(DemoRow row);
  const std::vector<DemoRow>& rows() const { return rows_; }
  uint64_t next_seed() { return settings_.seed + 7919 * ++seeds_used_; }

 private:
  DemoSettings settings_;
  Stopwatch clock_;
  std::vector<DemoRow> rows_;
  uint64_t seeds_used_ = 0;
};

struct DemoSection {
  const char* name;
  const char* summary;  // one line shown before the section runs
  void (*run)(DemoContext& ctx);
};

// The sections in the order they run.
std::vector<DemoSection> demo_sections();

// Sections of issue 2 (demo_exact.cpp): exact causal attention at growing lengths.
void run_exact_forward_sweep(DemoContext& ctx);
void run_exact_backward_sweep(DemoContext& ctx);
// Section of issue 3 (demo_sparse.cpp): sliding window vs dense causal at 64K tokens.
void run_sliding_window(DemoContext& ctx);
// Section of issue 4 (demo_dist.cpp): zigzag sequence parallelism over `mpirun -n 2`.
void run_distributed(DemoContext& ctx);
// Section of issue 3 (demo_dsa.cpp): DeepSeek Sparse Attention forward beside dense causal.
void run_dsa(DemoContext& ctx);

// Section of issue 7 (demo_model.cpp): transformers parity and generation speed.
void run_model_runtime(DemoContext& ctx);
// Section of issue 8 (demo_passkey.cpp): passkey retrieval by the shipped trained model.
void run_passkey(DemoContext& ctx);

}  // namespace longctx::app
