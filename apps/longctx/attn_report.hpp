// What every `longctx attn` path (dense, DSA, sequence-parallel) reports the same way: the
// problem's JSON keys (batch seq seq_k heads kv_heads dim dim_v dtype threads seed) and an
// oracle check (err_out err_lse err_dq err_dk err_dv check_rows check_full_gradients tolerance
// check_passed, and one line of errors with the verdict).
#pragma once

#include <nlohmann/json.hpp>

#include "attn_case.hpp"
#include "oracle_check.hpp"

namespace longctx::app {

// Adds the problem's keys to `j`.
void add_problem_json(const AttnConfig& c, nlohmann::json& j);

// Adds the check's keys to `j`.
void add_check_json(const CheckResult& r, nlohmann::json& j);

// Prints "          out 1.2e-06  lse ...  tolerance 1.0e-05: PASS" on stdout.
void print_check_errors(const CheckResult& r);

}  // namespace longctx::app
