// Checkpoints: config.json round trips through model::parse_model_config (the fixtures and random
// configs of all three architectures and every RoPE type), a saved model reloads through the
// model runtime's loader bit for bit (tied / untied, biases, a trained indexer), the training
// state reloads bit for bit and resumes exactly, and every failure names the file and tensor and
// leaves no temporary file behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/model/config.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/train/adamw.hpp"
#include "longctx/train/checkpoint.hpp"
#include "test_util.hpp"

namespace longctx::train {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using model::Architecture;
using model::DecoderWeights;
using model::ModelConfig;
using model::NamedParameter;
using model::RopeType;

std::set<std::string> file_names(const fs::path& dir) {
  std::set<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    names.insert(e.path().filename().string());
  return names;
}

void expect_no_temporaries(const fs::path& dir) {
  for (const std::string& name : file_names(dir))
    EXPECT_FALSE(name.ends_with(".tmp")) << name << " left in " << dir;
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.bos_token_ids, b.bos_token_ids);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.weight_dtype, b.weight_dtype);
  const model::RopeConfig &r = a.rope, &s = b.rope;
  EXPECT_EQ(r.type, s.type);
  EXPECT_EQ(r.theta, s.theta);
  EXPECT_EQ(r.factor, s.factor);
  EXPECT_EQ(r.original_max_position_embeddings, s.original_max_position_embeddings);
  EXPECT_EQ(r.low_freq_factor, s.low_freq_factor);
  EXPECT_EQ(r.high_freq_factor, s.high_freq_factor);
  EXPECT_EQ(r.beta_fast, s.beta_fast);
  EXPECT_EQ(r.beta_slow, s.beta_slow);
  EXPECT_EQ(r.mscale, s.mscale);
  EXPECT_EQ(r.mscale_all_dim, s.mscale_all_dim);
  EXPECT_EQ(r.attention_factor, s.attention_factor);
  EXPECT_EQ(r.truncate, s.truncate);
  EXPECT_EQ(r.short_factor, s.short_factor);
  EXPECT_EQ(r.long_factor, s.long_factor);
}

const char* type_name(Architecture a) {
  return a == Architecture::llama ? "llama" : a == Architecture::mistral ? "mistral" : "qwen2";
}

// A small config of `arch` with the biases and windows that architecture can express.
ModelConfig small_config(Architecture arch, bool tied, bool biases) {
  ModelConfig c;
  c.architecture = arch;
  c.model_type = type_name(arch);
  c.vocab_size = 41;
  c.hidden_size = 16;
  c.intermediate_size = 23;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = tied;
  c.sliding_window.assign(3, 0);
  if (arch == Architecture::llama) c.qkv_bias = c.o_bias = c.mlp_bias = biases;
  if (arch == Architecture::mistral) c.sliding_window.assign(3, 16);
  if (arch == Architecture::qwen2) {
    c.qkv_bias = true;
    c.sliding_window = {0, 24, 24};
  }
  c.bos_token_ids = {1};
  c.eos_token_ids = {2};
  return c;
}

double pick(Rng& rng, std::initializer_list<double> values) {
  return values.begin()[rng.uniform_int(0, int64_t(values.size()) - 1)];
}

// Random configs over everything the writer must express: the three architectures, every RoPE
// type with its optional keys, windows, token-id lists, dtypes; values not round in decimal.
ModelConfig random_config(Rng& rng) {
  const auto arch = Architecture(rng.uniform_int(0, 2));
  ModelConfig c = small_config(arch, rng.uniform_int(0, 1) == 1, rng.uniform_int(0, 1) == 1);
  c.num_kv_heads = rng.uniform_int(1, 3);
  c.num_heads = c.num_kv_heads * rng.uniform_int(1, 3);
  c.head_dim = 2 * rng.uniform_int(1, 8);
  c.hidden_size = rng.uniform_int(3, 70);
  c.intermediate_size = rng.uniform_int(3, 90);
  c.vocab_size = rng.uniform_int(5, 300);
  c.num_layers = rng.uniform_int(1, 5);
  c.max_position_embeddings = rng.uniform_int(16, 1 << 17);
  c.rms_norm_eps = pick(rng, {1e-5, 1e-6, 3.7e-7});
  if (arch == Architecture::llama) c.mlp_bias = rng.uniform_int(0, 1) == 1;
  const int64_t window = rng.uniform_int(0, 1) ? rng.uniform_int(1, 5000) : 0;
  c.sliding_window.assign(size_t(c.num_layers), arch == Architecture::mistral ? window : 0);
  if (arch == Architecture::qwen2) {
    for (int64_t& w : c.sliding_window) w = rng.uniform_int(0, 1) ? window : 0;
  }
  c.bos_token_ids.clear();
  if (rng.uniform_int(0, 1)) c.bos_token_ids = {int32_t(rng.uniform_int(0, 99))};
  c.eos_token_ids.clear();
  for (int64_t i = rng.uniform_int(0, 3); i > 0; --i)
    c.eos_token_ids.push_back(int32_t(rng.uniform_int(0, 99)));
  const DType dtypes[] = {DType::f32, DType::bf16, DType::f16};
  c.weight_dtype = dtypes[rng.uniform_int(0, 2)];

  model::RopeConfig& r = c.rope;
  r.type = RopeType(rng.uniform_int(0, 5));
  r.theta = 10000.0 * std::exp(double(rng.uniform(0.f, 5.f)));
  const int64_t original = rng.uniform_int(0, 1) ? rng.uniform_int(8, 4096) : 0;
  switch (r.type) {
    case RopeType::standard:
      break;
    case RopeType::linear:
    case RopeType::dynamic:
      r.factor = 1.0 + double(rng.uniform(0.f, 15.f));
      break;
    case RopeType::llama3:
      r.factor = 1.0 + double(rng.uniform(0.f, 15.f));
      r.low_freq_factor = 0.5 + double(rng.uniform(0.f, 1.f));
      r.high_freq_factor = r.low_freq_factor + 0.1 + double(rng.uniform(0.f, 4.f));
      r.original_max_position_embeddings = original;
      break;
    case RopeType::yarn:
      r.factor = 1.0 + double(rng.uniform(0.f, 15.f));
      r.beta_fast = 16.0 + double(rng.uniform(0.f, 32.f));
      r.beta_slow = 0.5 + double(rng.uniform(0.f, 2.f));
      if (rng.uniform_int(0, 1)) r.mscale = 0.5 + double(rng.uniform(0.f, 1.f));
      if (rng.uniform_int(0, 1)) r.mscale_all_dim = double(rng.uniform(0.f, 1.f));
      if (rng.uniform_int(0, 1)) r.attention_factor = 0.5 + double(rng.uniform(0.f, 1.f));
      r.truncate = rng.uniform_int(0, 1) == 1;
      r.original_max_position_embeddings = original;
      break;
    case RopeType::longrope:
      for (int64_t i = 0; i < c.head_dim / 2; ++i) {
        r.short_factor.push_back(1.0 + double(rng.uniform(0.f, 1.f)));
        r.long_factor.push_back(1.0 + double(rng.uniform(0.f, 30.f)));
      }
      if (rng.uniform_int(0, 1)) r.attention_factor = 0.5 + double(rng.uniform(0.f, 1.f));
      if (rng.uniform_int(0, 1)) r.factor = 1.5 + double(rng.uniform(0.f, 8.f));
      r.original_max_position_embeddings = original;
      break;
  }
  return c;
}

TEST(CheckpointConfig, FixtureConfigsRoundTrip) {
  int seen = 0;
  for (const fs::directory_entry& e :
       fs::directory_iterator(fs::path(LONGCTX_SOURCE_DIR) / "model/fixtures/models")) {
    if (!fs::exists(e.path() / "config.json")) continue;
    SCOPED_TRACE(e.path().filename().string());
    const ModelConfig c = model::load_model_config(e.path());
    const std::string text = model_config_json(c);
    expect_same_config(model::parse_model_config(text), c);
    ++seen;
  }
  EXPECT_GE(seen, 8);
}

TEST(CheckpointConfig, RandomConfigsRoundTrip) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  for (int i = 0; i < 200; ++i) {
    const ModelConfig c = random_config(rng);
    const std::string text = model_config_json(c);
    SCOPED_TRACE(text);
    expect_same_config(model::parse_model_config(text), c);
    if (::testing::Test::HasFailure()) return;
  }
}

// What transformers reads: the class, both RoPE spellings and both dtype keys, null ids.
TEST(CheckpointConfig, WritesBothTransformersRopeForms) {
  ModelConfig c = small_config(Architecture::llama, false, false);
  c.bos_token_ids.clear();
  Json j = Json::parse(model_config_json(c));
  EXPECT_EQ(j["architectures"], Json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_TRUE(j["bos_token_id"].is_null());
  EXPECT_EQ(j["eos_token_id"], 2);
  EXPECT_EQ(j["dtype"], "float32");
  EXPECT_EQ(j["torch_dtype"], "float32");
  EXPECT_EQ(j["rope_parameters"], Json({{"rope_type", "default"}, {"rope_theta", 10000.0}}));
  EXPECT_EQ(j["rope_theta"], 10000.0);
  EXPECT_TRUE(j.contains("rope_scaling") && j["rope_scaling"].is_null());

  c.rope.type = RopeType::yarn;
  c.rope.factor = 4.0;
  c.rope.original_max_position_embeddings = 32;
  j = Json::parse(model_config_json(c));
  EXPECT_EQ(j["rope_parameters"]["rope_type"], "yarn");
  EXPECT_EQ(j["rope_parameters"]["rope_theta"], 10000.0);
  EXPECT_EQ(j["rope_parameters"]["factor"], 4.0);
  EXPECT_EQ(j["rope_parameters"]["original_max_position_embeddings"], 32);
  Json scaling = j["rope_parameters"];
  scaling.erase("rope_theta");  // 4.x keeps theta at the top level
  EXPECT_EQ(j["rope_scaling"], scaling);
}

TEST(CheckpointConfig, RejectsWhatTheArchitectureCannotExpress) {
  const auto argument_of = [](const ModelConfig& c) {
    try {
      model_config_json(c);
    } catch (const ArgumentError& e) {
      return e.argument();
    }
    return std::string("(accepted)");
  };
  ModelConfig llama = small_config(Architecture::llama, false, false);
  llama.sliding_window[1] = 64;
  EXPECT_EQ(argument_of(llama), "sliding_window");
  llama = small_config(Architecture::llama, false, true);
  llama.o_bias = false;
  EXPECT_EQ(argument_of(llama), "attention_bias");
  ModelConfig mistral = small_config(Architecture::mistral, false, false);
  mistral.sliding_window = {16, 0, 16};
  EXPECT_EQ(argument_of(mistral), "sliding_window");
  ModelConfig qwen = small_config(Architecture::qwen2, false, false);
  qwen.sliding_window = {0, 24, 32};
  EXPECT_EQ(argument_of(qwen), "sliding_window");
  qwen = small_config(Architecture::qwen2, false, false);
  qwen.o_bias = true;
  EXPECT_EQ(argument_of(qwen), "attention_bias");
  EXPECT_EQ(argument_of(small_config(Architecture::qwen2, true, true)), "(accepted)");
}

// Every parameter random (the loader's defaults of norms at 1 and biases at 0 would hide a
// tensor that is never written).
DecoderWeights random_weights(const ModelConfig& c, Rng& rng, bool indexer) {
  DecoderWeights w = model::random_decoder_weights(c, rng.engine()());
  if (indexer) model::add_random_indexers(w, c, {c.num_layers - 1}, 3, rng.engine()());
  for (NamedParameter& p : model::named_parameters(w))
    for (float& x : *p.values) x = rng.normal(0.f, 1.f);
  return w;
}

void expect_bit_identical(DecoderWeights& a, DecoderWeights& b) {
  const std::vector<NamedParameter> pa = model::named_parameters(a),
                                    pb = model::named_parameters(b);
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].name, pb[i].name);
    ASSERT_EQ(pa[i].shape, pb[i].shape) << pa[i].name;
    ASSERT_EQ(pa[i].values->size(), pb[i].values->size()) << pa[i].name;
    EXPECT_EQ(std::memcmp(pa[i].values->data(), pb[i].values->data(),
                          pa[i].values->size() * sizeof(float)),
              0)
        << pa[i].name << " differs";
  }
}

struct ModelCase {
  Architecture arch;
  bool tied, biases, indexer;
};

void PrintTo(const ModelCase& k, std::ostream* os) {
  *os << type_name(k.arch) << (k.tied ? " tied" : " untied") << (k.biases ? " biases" : "")
      << (k.indexer ? " indexer" : "");
}

class CheckpointModelRoundTrip : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CheckpointModelRoundTrip, SavedWeightsReloadBitIdentical) {
  const ModelCase k = GetParam();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  ModelConfig c = small_config(k.arch, k.tied, k.biases);
  c.weight_dtype = DType::bf16;  // the checkpoint holds float32 whatever the source config said
  DecoderWeights w = random_weights(c, rng, k.indexer);
  test::TempDir tmp("longctx_test_checkpoint");
  const fs::path dir = tmp.path() / "nested" / "ckpt";
  save_model_checkpoint(dir, c, w);
  EXPECT_EQ(file_names(dir),
            (std::set<std::string>{"config.json", "generation_config.json", "model.safetensors"}));

  const ModelConfig loaded_config = model::load_model_config(dir);
  c.weight_dtype = DType::f32;
  expect_same_config(loaded_config, c);
  const model::Checkpoint ckpt = model::Checkpoint::open(dir);
  DecoderWeights loaded = model::load_decoder_weights(ckpt, loaded_config);
  EXPECT_EQ(loaded.layers.back().indexer.present(), k.indexer);
  EXPECT_EQ(ckpt.contains("lm_head.weight"), !k.tied);
  for (const std::string& name : ckpt.names()) EXPECT_EQ(ckpt.get(name).dtype_name, "F32") << name;
  expect_bit_identical(loaded, w);

  // transformers refuses safetensors without {"format": "pt"} in the metadata.
  std::ifstream in(dir / "model.safetensors", std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(size_t(header_len), '\0');
  in.read(header.data(), std::streamsize(header_len));
  EXPECT_EQ(Json::parse(header)["__metadata__"]["format"], "pt");

  // Saving again over the checkpoint replaces it in place.
  DecoderWeights w2 = random_weights(c, rng, k.indexer);
  save_model_checkpoint(dir, c, w2);
  expect_no_temporaries(dir);
  DecoderWeights reloaded = model::load_decoder_weights(model::Checkpoint::open(dir), c);
  expect_bit_identical(reloaded, w2);
}

INSTANTIATE_TEST_SUITE_P(Layouts, CheckpointModelRoundTrip,
                         ::testing::Values(ModelCase{Architecture::llama, false, false, false},
                                           ModelCase{Architecture::llama, true, true, false},
                                           ModelCase{Architecture::llama, false, true, true},
                                           ModelCase{Architecture::llama, true, false, true},
                                           ModelCase{Architecture::mistral, false, false, false},
                                           ModelCase{Architecture::qwen2, true, true, true}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           const ModelCase& k = info.param;
                           return std::string(type_name(k.arch)) + (k.tied ? "_tied" : "_untied") +
                                  (k.biases ? "_bias" : "") + (k.indexer ? "_indexer" : "");
                         });

TEST(CheckpointModel, RejectsWeightsThatDoNotFitAndWritesNothing) {
  Rng rng(fresh_seed());
  const ModelConfig c = small_config(Architecture::llama, false, false);
  DecoderWeights w = random_weights(c, rng, false);
  test::TempDir tmp("longctx_test_checkpoint");
  ModelConfig tied = c;
  tied.tie_word_embeddings = true;  // the weights have an LM head of their own
  EXPECT_THROW(save_model_checkpoint(tmp.path() / "a", tied, w), ArgumentError);
  ModelConfig deeper = c;
  deeper.num_layers = 4;
  deeper.sliding_window.assign(4, 0);
  EXPECT_THROW(save_model_checkpoint(tmp.path() / "b", deeper, w), ArgumentError);
  EXPECT_TRUE(file_names(tmp.path()).empty());
}

// A rename that fails half-way (config.json is a directory) throws, and the files not yet renamed
// are removed instead of lying around as temporaries.
TEST(CheckpointModel, FailedSaveLeavesNoTemporaries) {
  Rng rng(fresh_seed());
  const ModelConfig c = small_config(Architecture::llama, true, false);
  DecoderWeights w = random_weights(c, rng, false);
  test::TempDir tmp("longctx_test_checkpoint");
  fs::create_directories(tmp.path() / "config.json" / "occupied");
  EXPECT_THROW(save_model_checkpoint(tmp.path(), c, w), RuntimeError);
  expect_no_temporaries(tmp.path());
}

// Runs `steps` AdamW updates with random gradients.
void train_steps(AdamW& adamw, DecoderWeights& w, Rng& rng, int steps) {
  for (int i = 0; i < steps; ++i) {
    DecoderWeights g = model::zeros_like(w);
    for (NamedParameter& p : model::named_parameters(g))
      for (float& x : *p.values) x = rng.normal(0.f, 0.1f);
    adamw.step(w, g, 1e-3);
  }
}

TEST(CheckpointState, RoundTripIsBitIdenticalAndResumesExactly) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  const ModelConfig c = small_config(Architecture::llama, false, true);
  DecoderWeights w = random_weights(c, rng, /*indexer=*/true);
  AdamW adamw({0.9, 0.95, 1e-8, 0.1});
  train_steps(adamw, w, rng, 3);
  TrainingState state;
  state.step = 3;
  state.tokens_seen = 3 * 4096 + 17;
  state.options = {{"lr", 3e-4}, {"seq_len", 512}, {"data", {{"task", "passkey"}, {"seed", 7}}}};
  test::TempDir tmp("longctx_test_checkpoint");
  save_training_state(tmp.path(), adamw, state);
  EXPECT_EQ(file_names(tmp.path()),
            (std::set<std::string>{kOptimizerStateFile, kTrainerStateFile}));

  AdamW resumed({0.9, 0.95, 1e-8, 0.1});
  const TrainingState loaded = load_training_state(tmp.path(), resumed, w);
  EXPECT_EQ(loaded.step, 3);
  EXPECT_EQ(loaded.tokens_seen, state.tokens_seen);
  EXPECT_EQ(loaded.options, state.options);
  EXPECT_EQ(resumed.steps(), 3);
  ASSERT_EQ(resumed.moments().size(), adamw.moments().size());
  for (const ParameterMoments& m : adamw.moments()) {
    const ParameterMoments* r = resumed.find_moments(m.name);
    ASSERT_NE(r, nullptr) << m.name;
    EXPECT_EQ(r->shape, m.shape);
    EXPECT_EQ(std::memcmp(r->exp_avg.data(), m.exp_avg.data(), m.exp_avg.size() * 4), 0) << m.name;
    EXPECT_EQ(std::memcmp(r->exp_avg_sq.data(), m.exp_avg_sq.data(), m.exp_avg_sq.size() * 4), 0)
        << m.name;
  }
  // The next step from the restored state equals the uninterrupted run's, bit for bit.
  DecoderWeights w_resumed = w;
  const uint64_t grad_seed = rng.engine()();
  Rng rng_a(grad_seed), rng_b(grad_seed);
  train_steps(adamw, w, rng_a, 2);
  train_steps(resumed, w_resumed, rng_b, 2);
  expect_bit_identical(w_resumed, w);
}

TEST(CheckpointState, StateBeforeTheFirstStepRoundTrips) {
  Rng rng(fresh_seed());
  const ModelConfig c = small_config(Architecture::qwen2, true, true);
  const DecoderWeights w = random_weights(c, rng, false);
  test::TempDir tmp("longctx_test_checkpoint");
  save_training_state(tmp.path(), AdamW(), TrainingState{});
  AdamW resumed;
  const TrainingState loaded = load_training_state(tmp.path(), resumed, w);
  EXPECT_EQ(loaded.step, 0);
  EXPECT_TRUE(loaded.options.is_null());
  EXPECT_EQ(resumed.steps(), 0);
  EXPECT_TRUE(resumed.moments().empty());
}

// The error of loading into `shapes` after saving `source`'s state: its what() text.
std::string load_error(const fs::path& dir, const DecoderWeights& shapes) {
  try {
    AdamW adamw;
    load_training_state(dir, adamw, shapes);
  } catch (const ArgumentError& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(CheckpointState, MismatchedWeightsOrFilesAreNamed) {
  Rng rng(fresh_seed());
  const ModelConfig c = small_config(Architecture::llama, false, false);
  DecoderWeights w = random_weights(c, rng, /*indexer=*/false);
  AdamW adamw;
  train_steps(adamw, w, rng, 2);
  test::TempDir tmp("longctx_test_checkpoint");
  const fs::path dir = tmp.path() / "state";
  save_training_state(dir, adamw, {2, 100, Json::object()});

  // Another intermediate size: the first moment of the first MLP projection is named.
  ModelConfig wider = c;
  wider.intermediate_size = 29;
  std::string what = load_error(dir, random_weights(wider, rng, false));
  EXPECT_NE(what.find("exp_avg.model.layers.0.mlp.gate_proj.weight"), std::string::npos) << what;
  EXPECT_NE(what.find(kOptimizerStateFile), std::string::npos) << what;
  // A parameter the state has no moments for.
  what = load_error(dir, random_weights(c, rng, /*indexer=*/true));
  EXPECT_NE(what.find("exp_avg.model.layers.2.self_attn.indexer.wq.weight"), std::string::npos)
      << what;
  EXPECT_NE(what.find("missing"), std::string::npos) << what;
  // Moments of a parameter the weights do not have (tied weights have no LM head).
  ModelConfig tied = c;
  tied.tie_word_embeddings = true;
  what = load_error(dir, random_weights(tied, rng, false));
  EXPECT_NE(what.find("lm_head.weight"), std::string::npos) << what;

  // Optimizer moments of another save (an interrupted save renames the optimizer file first).
  const fs::path other = tmp.path() / "other";
  train_steps(adamw, w, rng, 1);
  save_training_state(other, adamw, {3, 150, Json::object()});
  fs::copy_file(other / kOptimizerStateFile, dir / kOptimizerStateFile,
                fs::copy_options::overwrite_existing);
  what = load_error(dir, w);
  EXPECT_NE(what.find("two saves"), std::string::npos) << what;

  fs::remove(dir / kOptimizerStateFile);
  what = load_error(dir, w);
  EXPECT_NE(what.find(kOptimizerStateFile), std::string::npos) << what;
  fs::remove(dir / kTrainerStateFile);
  what = load_error(dir, w);
  EXPECT_NE(what.find(kTrainerStateFile), std::string::npos) << what;
}

}  // namespace
}  // namespace longctx::train
