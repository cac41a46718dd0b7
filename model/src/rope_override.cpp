// Parses `--rope-scaling` and rewrites the config's RoPE scaling (see rope_override.hpp).
#include "longctx/model/rope_override.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

constexpr const char* kFlag = "--rope-scaling";
constexpr const char* kForms =
    "none | linear:F | dynamic:F | yarn:F[:ORIGINAL] | llama3:F[:ORIGINAL[:LOW:HIGH]] (F > 1 for "
    "extension)";

double parse_number(const std::string& text) {
  std::istringstream in(text);
  double v = 0;
  in >> v;
  LONGCTX_CHECK_ARG(!text.empty() && in && in.eof() && v > 0, kFlag, kForms, "'" << text << "'");
  return v;
}

}  // namespace

void apply_rope_scaling_override(ModelConfig& config, std::string_view spec) {
  std::vector<std::string> f;
  std::string field;
  std::istringstream in{std::string(spec)};
  while (std::getline(in, field, ':')) f.push_back(field);
  LONGCTX_CHECK_ARG(!f.empty(), kFlag, kForms, "''");
  RopeConfig r;
  r.theta = config.rope.theta;
  const std::string& type = f[0];
  if (type == "none") {
    LONGCTX_CHECK_ARG(f.size() == 1, kFlag, kForms, "'" << spec << "'");
    config.rope = r;
    return;
  }
  LONGCTX_CHECK_ARG(type == "linear" || type == "dynamic" || type == "yarn" || type == "llama3",
                    kFlag, kForms, "'" << spec << "'");
  const size_t max_fields = type == "llama3" ? 5 : type == "yarn" ? 3 : 2;
  LONGCTX_CHECK_ARG(f.size() >= 2 && f.size() <= max_fields && f.size() != 4, kFlag, kForms,
                    "'" << spec << "'");
  r.type = parse_rope_type(type, kFlag);
  r.factor = parse_number(f[1]);
  const int64_t trained =
      f.size() > 2 ? int64_t(parse_number(f[2])) : config.max_position_embeddings;
  if (r.type == RopeType::yarn || r.type == RopeType::llama3) {
    r.original_max_position_embeddings = trained;
    config.max_position_embeddings = int64_t(double(trained) * r.factor);
  }
  if (f.size() == 5) {
    r.low_freq_factor = parse_number(f[3]);
    r.high_freq_factor = parse_number(f[4]);
    LONGCTX_CHECK_ARG(r.high_freq_factor > r.low_freq_factor, kFlag, "HIGH > LOW in " << kForms,
                      "'" << spec << "'");
  }
  config.rope = r;
}

}  // namespace longctx::model
