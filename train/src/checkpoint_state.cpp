// The resumable part of training: AdamW's moments in optimizer.safetensors ("exp_avg.<param>",
// "exp_avg_sq.<param>", float32, so they reload bit for bit) and the counters plus the run's
// options in trainer_state.json. The optimizer's step count is in both files, so a pair left by
// an interrupted save (optimizer renamed, state not yet) is refused instead of mixed.
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "checkpoint_files.hpp"
#include "json_util.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/train/checkpoint.hpp"

namespace longctx::train {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kFormat = "longctx trainer state";
constexpr int64_t kVersion = 1;
constexpr const char* kStepsMetadata = "optimizer_steps";
const std::string kExpAvg = "exp_avg.";
const std::string kExpAvgSq = "exp_avg_sq.";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The "__metadata__" object of a safetensors file that Checkpoint::open has already validated
// (the model reader does not expose it).
Json safetensors_metadata(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(in ? size_t(header_len) : 0, '\0');
  in.read(header.data(), std::streamsize(header.size()));
  LONGCTX_CHECK_ARG(in.good(), "optimizer state", "a readable safetensors header", file.string());
  const Json parsed = model::json_util::parse(header, "optimizer state", file.string());
  const auto it = parsed.find("__metadata__");
  return it != parsed.end() && it->is_object() ? *it : Json::object();
}

int64_t non_negative(const model::json_util::Fields& f, std::string_view key) {
  const int64_t v = f.required_int(key, "an integer >= 0");
  LONGCTX_CHECK_ARG(v >= 0, f.key_name(key), "an integer >= 0", v << " in " << f.source());
  return v;
}

// Reads both moments of every parameter of `shapes`, checking shapes, and that the file holds
// nothing else.
std::vector<ParameterMoments> load_moments(const model::Checkpoint& ckpt, const fs::path& file,
                                           const model::DecoderWeights& shapes) {
  std::vector<ParameterMoments> moments;
  std::set<std::string> expected;
  for (const model::ConstNamedParameter& p : model::named_parameters(shapes)) {
    ParameterMoments m{p.name, p.shape, {}, {}};
    for (const std::string* prefix : {&kExpAvg, &kExpAvgSq}) {
      const std::string name = *prefix + p.name;
      LONGCTX_CHECK_ARG(ckpt.contains(name), "tensor " + name,
                        "the moment of parameter " << p.name << " " << shape_text(p.shape),
                        "missing in " << file.string());
      // load_f32 names the tensor and the file when the shape differs.
      (prefix == &kExpAvg ? m.exp_avg : m.exp_avg_sq) = ckpt.load_f32(name, p.shape);
      expected.insert(name);
    }
    moments.push_back(std::move(m));
  }
  for (const std::string& name : ckpt.names()) {
    LONGCTX_CHECK_ARG(expected.count(name) > 0, "tensor " + name,
                      "only moments of the weights' parameters",
                      "a tensor with no such parameter in " << file.string());
  }
  return moments;
}

}  // namespace

void save_training_state(const fs::path& dir, const AdamW& optimizer, const TrainingState& state) {
  LONGCTX_CHECK_ARG(state.step >= 0, "step", "a step count >= 0", state.step);
  LONGCTX_CHECK_ARG(state.tokens_seen >= 0, "tokens_seen", "a count >= 0", state.tokens_seen);
  std::vector<model::TensorToSave> tensors;
  for (const ParameterMoments& m : optimizer.moments()) {
    tensors.push_back({kExpAvg + m.name, m.shape, m.exp_avg.data(), DType::f32});
    tensors.push_back({kExpAvgSq + m.name, m.shape, m.exp_avg_sq.data(), DType::f32});
  }
  const AdamWOptions& o = optimizer.options();
  Json j = Json::object();
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["step"] = state.step;
  j["tokens_seen"] = state.tokens_seen;
  j["optimizer"] = {{"type", "adamw"},
                    {"steps", optimizer.steps()},
                    {"beta1", o.beta1},
                    {"beta2", o.beta2},
                    {"eps", o.eps},
                    {"weight_decay", o.weight_decay},
                    {"file", kOptimizerStateFile}};
  j["options"] = state.options;

  detail::StagedFiles files(dir);
  model::save_safetensors(files.stage(kOptimizerStateFile), tensors,
                          {{kStepsMetadata, std::to_string(optimizer.steps())}});
  files.write_text(kTrainerStateFile, j.dump(2) + "\n");  // renamed last: the save's commit point
  files.commit();
}

TrainingState load_training_state(const fs::path& dir, AdamW& optimizer,
                                  const model::DecoderWeights& shapes) {
  const fs::path state_file = dir / kTrainerStateFile;
  const fs::path optimizer_file = dir / kOptimizerStateFile;
  const Json j =
      model::json_util::parse(model::json_util::read_text_file(state_file, "trainer_state"),
                              "trainer_state", state_file.string());
  LONGCTX_CHECK_ARG(j.is_object() && j.value("format", "") == kFormat, "trainer_state",
                    "a JSON object with \"format\": \"" << kFormat << "\"", state_file.string());
  const model::json_util::Fields f(j, "", state_file.string());
  LONGCTX_CHECK_ARG(f.int_or("version", 0) == kVersion, "version", kVersion,
                    f.int_or("version", 0) << " in " << state_file.string());
  TrainingState state;
  state.step = non_negative(f, "step");
  state.tokens_seen = non_negative(f, "tokens_seen");
  state.options = j.contains("options") ? j.at("options") : Json();
  LONGCTX_CHECK_ARG(f.has("optimizer") && f.at("optimizer").is_object(), "optimizer", "an object",
                    "missing in " << state_file.string());
  const int64_t steps =
      non_negative(model::json_util::Fields(f.at("optimizer"), "optimizer.", f.source()), "steps");

  std::error_code ec;
  LONGCTX_CHECK_ARG(fs::is_regular_file(optimizer_file, ec), "optimizer state",
                    "a file beside " << kTrainerStateFile, optimizer_file.string() << " (missing)");
  const model::Checkpoint ckpt = model::Checkpoint::open(optimizer_file);
  const Json metadata = safetensors_metadata(optimizer_file);
  const std::string saved_steps = metadata.value(kStepsMetadata, std::string("?"));
  LONGCTX_CHECK_ARG(
      saved_steps == std::to_string(steps), "optimizer state",
      "moments after " << steps << " optimizer steps (as " << state_file.string() << " says)",
      "moments after " << saved_steps << " steps in " << optimizer_file.string()
                       << " (files of two saves?)");
  std::vector<ParameterMoments> moments;
  if (steps > 0) moments = load_moments(ckpt, optimizer_file, shapes);
  LONGCTX_CHECK_ARG(steps > 0 || ckpt.names().empty(), "optimizer state",
                    "no moments before the first step",
                    ckpt.names().size() << " tensors in " << optimizer_file.string());
  optimizer.load_state(steps, std::move(moments));
  return state;
}

}  // namespace longctx::train
