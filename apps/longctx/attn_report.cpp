// See attn_report.hpp.
#include "attn_report.hpp"

#include <cstdio>

#include "report_format.hpp"

namespace longctx::app {

void add_problem_json(const AttnConfig& c, nlohmann::json& j) {
  j["batch"] = c.batch;
  j["seq"] = c.seq;
  j["seq_k"] = c.seq_k;
  j["heads"] = c.heads;
  j["kv_heads"] = c.kv_heads;
  j["dim"] = c.dim;
  j["dim_v"] = c.dim_v;
  j["dtype"] = std::string(dtype_name(c.dtype));
  j["threads"] = c.threads;
  j["seed"] = c.seed;
}

void add_check_json(const CheckResult& r, nlohmann::json& j) {
  j["err_out"] = r.err_out;
  j["err_lse"] = r.err_lse;
  if (r.err_dq) j["err_dq"] = *r.err_dq;
  if (r.err_dk) j["err_dk"] = *r.err_dk;
  if (r.err_dv) j["err_dv"] = *r.err_dv;
  j["check_rows"] = r.rows_checked;
  j["check_full_gradients"] = r.full_gradients;
  j["tolerance"] = r.tolerance;
  j["check_passed"] = r.passed();
}

void print_check_errors(const CheckResult& r) {
  std::printf("          out %s  lse %s  dq %s  dk %s  dv %s  tolerance %s: %s\n",
              format_error(r.err_out).c_str(), format_error(r.err_lse).c_str(),
              r.err_dq ? format_error(*r.err_dq).c_str() : "-",
              r.err_dk ? format_error(*r.err_dk).c_str() : "-",
              r.err_dv ? format_error(*r.err_dv).c_str() : "-", format_error(r.tolerance).c_str(),
              r.passed() ? "PASS" : "FAIL");
}

}  // namespace longctx::app
