// Parses the per-layer attention schedule (syntax in schedule.hpp) and names it for reports.
#include "longctx/model/schedule.hpp"

#include <charconv>
#include <sstream>

#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

constexpr const char* kArgument = "--attention";
constexpr const char* kForms =
    "dense | window:W | local-global[:E[:W[:THETA]]] | dilated[:w:r,...] | dsa:K | "
    "topk-exact:K | config, one for all layers or one per layer separated by ';'";

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

int64_t parse_positive(std::string_view text, std::string_view what) {
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  LONGCTX_CHECK_ARG(ec == std::errc() && ptr == text.data() + text.size() && value > 0, kArgument,
                    "a positive integer for " << what << " (" << kForms << ")", "'" << text << "'");
  return value;
}

double parse_theta(const std::string& text) {
  double value = 0;
  std::istringstream in(text);
  in >> value;
  LONGCTX_CHECK_ARG(in && in.eof() && value > 1.0, kArgument,
                    "a RoPE theta > 1 in local-global:E:W:THETA", "'" << text << "'");
  return value;
}

// One item for layer `layer` (local-global needs the index).
LayerAttention parse_item(const std::string& item, int64_t layer) {
  LayerAttention a;
  const size_t colon = item.find(':');
  const std::string name = item.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : item.substr(colon + 1);
  if (name == "dense" && rest.empty()) return a;
  if (name == "window") {
    a.kind = AttentionKind::window;
    a.window = parse_positive(rest, "the window W");
    return a;
  }
  if (name == "dsa" || name == "topk-exact") {
    a.kind = name == "dsa" ? AttentionKind::dsa : AttentionKind::topk_exact;
    a.top_k = parse_positive(rest, "K (keys per query)");
    return a;
  }
  if (name == "dilated") {
    a.kind = AttentionKind::dilated;
    if (rest.empty()) {
      a.patterns = sparse::longnet_patterns();
    } else {
      std::string patterns = rest;  // "w:r,w:r" as sparse::parse_dilated_patterns reads it
      a.patterns = sparse::parse_dilated_patterns(patterns, std::string(kArgument));
    }
    return a;
  }
  if (name == "local-global") {
    const std::vector<std::string> fields =
        rest.empty() ? std::vector<std::string>{} : split(rest, ':');
    LONGCTX_CHECK_ARG(fields.size() <= 3, kArgument, "local-global[:E[:W[:THETA]]]",
                      "'" << item << "'");
    const int64_t every =
        fields.size() > 0 ? parse_positive(fields[0], "E (global every E layers)") : 3;
    const int64_t window =
        fields.size() > 1 ? parse_positive(fields[1], "the local window W") : 128;
    const double theta = fields.size() > 2 ? parse_theta(fields[2]) : 10000.0;
    if (layer % every == 0) return a;  // global layer: dense with the model's RoPE
    a.kind = AttentionKind::window;
    a.window = window;
    a.rope_theta = theta;
    return a;
  }
  LONGCTX_CHECK_ARG(false, kArgument, kForms, "'" << item << "'");
  return a;
}

}  // namespace

std::string LayerAttention::describe() const {
  std::ostringstream out;
  switch (kind) {
    case AttentionKind::dense:
      out << "dense";
      break;
    case AttentionKind::window:
      out << "window:" << window;
      break;
    case AttentionKind::dilated:
      out << "dilated:";
      for (size_t i = 0; i < patterns.size(); ++i)
        out << (i ? "," : "") << patterns[i].segment << ":" << patterns[i].dilation;
      break;
    case AttentionKind::dsa:
      out << "dsa:" << top_k;
      break;
    case AttentionKind::topk_exact:
      out << "topk-exact:" << top_k;
      break;
  }
  if (rope_theta) out << "(theta " << *rope_theta << ")";
  return out.str();
}

std::string AttentionSchedule::describe() const {
  std::ostringstream out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    const std::string name = layers[i].describe();
    while (j < layers.size() && layers[j].describe() == name) ++j;
    out << (i ? ", " : "") << name << " x" << (j - i);
    i = j;
  }
  return out.str();
}

AttentionSchedule schedule_from_config(const ModelConfig& config) {
  AttentionSchedule s;
  s.layers.resize(size_t(config.num_layers));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    const int64_t w =
        i < int64_t(config.sliding_window.size()) ? config.sliding_window[size_t(i)] : 0;
    if (w > 0) {
      s.layers[size_t(i)].kind = AttentionKind::window;
      s.layers[size_t(i)].window = w;
    }
  }
  return s;
}

AttentionSchedule parse_attention_schedule(std::string_view text, const ModelConfig& config) {
  if (text == "config") return schedule_from_config(config);
  const std::vector<std::string> items = split(text, ';');
  const int64_t layers = config.num_layers;
  LONGCTX_CHECK_ARG(items.size() == 1 || int64_t(items.size()) == layers, kArgument,
                    "one item or " << layers << " items (one per layer) separated by ';'",
                    items.size() << " items");
  AttentionSchedule s;
  for (int64_t i = 0; i < layers; ++i)
    s.layers.push_back(parse_item(items.size() == 1 ? items[0] : items[size_t(i)], i));
  return s;
}

}  // namespace longctx::model
