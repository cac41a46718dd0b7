// Model I/O (issue 7): config.json parsing, safetensors checkpoints (single, sharded, written by
// us) and RoPE, against the transformers 5.17 fixtures in model/fixtures (manifest.json: the
// inv_freq and attention scaling HF used for each prompt) and against direct float64 formulas.
// Corrupt files and bad configs must fail with errors naming the file / key, never crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/model/config.hpp"
#include "longctx/model/rope.hpp"
#include "longctx/model/safetensors.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

namespace fs = std::filesystem;
using model::Architecture;
using model::Checkpoint;
using model::ModelConfig;
using model::RopeType;
using Json = nlohmann::json;

const fs::path kFixtures = LONGCTX_MODEL_FIXTURES;

Json read_json(const fs::path& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << file;
  return Json::parse(in);
}

const Json& manifest() {
  static const Json m = read_json(kFixtures / "manifest.json");
  return m;
}

// Expects `fn` to throw ArgumentError whose argument() is `argument`; returns its message.
template <typename Fn>
std::string expect_argument_error(Fn&& fn, const std::string& argument) {
  try {
    fn();
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ArgumentError for '" << argument << "', got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected ArgumentError for '" << argument << "', nothing thrown";
  return "";
}

// ---------------------------------------------------------------------------------------------
// The fixtures: configs, checkpoints and RoPE tables of real transformers models.

// The tensors transformers' Llama/Mistral/Qwen2 save, with their shapes.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim,
                I = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"model.embed_tokens.weight", {c.vocab_size, H}}, {"model.norm.weight", {H}}};
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "self_attn.q_proj.weight", {q, H}});
    t.push_back({p + "self_attn.k_proj.weight", {kv, H}});
    t.push_back({p + "self_attn.v_proj.weight", {kv, H}});
    t.push_back({p + "self_attn.o_proj.weight", {H, q}});
    if (c.qkv_bias) {
      t.push_back({p + "self_attn.q_proj.bias", {q}});
      t.push_back({p + "self_attn.k_proj.bias", {kv}});
      t.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    t.push_back({p + "mlp.gate_proj.weight", {I, H}});
    t.push_back({p + "mlp.up_proj.weight", {I, H}});
    t.push_back({p + "mlp.down_proj.weight", {H, I}});
    t.push_back({p + "input_layernorm.weight", {H}});
    t.push_back({p + "post_attention_layernorm.weight", {H}});
  }
  return t;
}

TEST(ModelFixtures, ConfigsMatchTheSavedModels) {
  ASSERT_EQ(manifest()["models"].size(), 8u);
  for (const Json& m : manifest()["models"]) {
    const std::string name = m["name"];
    SCOPED_TRACE(name);
    const ModelConfig c = model::load_model_config(kFixtures / m["dir"].get<std::string>());
    EXPECT_EQ(c.vocab_size, m["vocab_size"].get<int64_t>());
    EXPECT_EQ(c.hidden_size, 64);
    EXPECT_EQ(c.intermediate_size, 96);
    EXPECT_EQ(c.num_layers, 2);
    EXPECT_EQ(c.num_heads, 4);
    EXPECT_EQ(c.num_kv_heads, 2);
    EXPECT_EQ(c.head_dim, 32);  // given explicitly: heads × head_dim != hidden on purpose
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.bos_token_ids, std::vector<int32_t>{1});
    EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{2});
    EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
    const std::string dtype = m["weight_dtype"];
    EXPECT_EQ(c.weight_dtype, dtype == "float32"    ? DType::f32
                              : dtype == "bfloat16" ? DType::bf16
                                                    : DType::f16);
    const std::string arch = m["architecture"];
    EXPECT_EQ(c.architecture, arch == "LlamaForCausalLM"     ? Architecture::llama
                              : arch == "MistralForCausalLM" ? Architecture::mistral
                                                             : Architecture::qwen2);
    const std::vector<int64_t> windows =
        name == "mistral_window" ? std::vector<int64_t>{8, 8} : std::vector<int64_t>{0, 0};
    EXPECT_EQ(c.sliding_window, windows);
    EXPECT_EQ(c.qkv_bias, name == "qwen2_bias");
    EXPECT_FALSE(c.o_bias);
    EXPECT_FALSE(c.mlp_bias);
    EXPECT_EQ(c.tie_word_embeddings, name == "qwen2_bias" || name == "llama_tied_sharded_bf16");
    const RopeType rope = name == "llama3_rope"      ? RopeType::llama3
                          : name == "llama_yarn"     ? RopeType::yarn
                          : name == "llama_linear"   ? RopeType::linear
                          : name == "llama_dynamic"  ? RopeType::dynamic
                          : name == "llama_longrope" ? RopeType::longrope
                                                     : RopeType::standard;
    EXPECT_EQ(c.rope.type, rope);
  }
  const ModelConfig llama3 = model::load_model_config(kFixtures / "models/llama3_rope/config.json");
  EXPECT_DOUBLE_EQ(llama3.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(llama3.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(llama3.rope.high_freq_factor, 4.0);
  EXPECT_EQ(llama3.rope.original_max_position_embeddings, 32);
  EXPECT_EQ(llama3.max_position_embeddings, 256);
  const ModelConfig longrope = model::load_model_config(kFixtures / "models/llama_longrope");
  ASSERT_EQ(longrope.rope.short_factor.size(), 16u);
  EXPECT_DOUBLE_EQ(longrope.rope.long_factor[15], 8.5);
}

TEST(ModelFixtures, CheckpointsHoldEveryTensorWithItsShape) {
  for (const Json& m : manifest()["models"]) {
    const std::string name = m["name"];
    SCOPED_TRACE(name);
    const fs::path dir = kFixtures / m["dir"].get<std::string>();
    const ModelConfig c = model::load_model_config(dir);
    const Checkpoint ckpt = Checkpoint::open(dir);
    const auto expected = expected_tensors(c);
    EXPECT_EQ(ckpt.names().size(), expected.size());
    const char* stored = c.weight_dtype == DType::f32    ? "F32"
                         : c.weight_dtype == DType::bf16 ? "BF16"
                                                         : "F16";
    std::set<fs::path> files;
    for (const auto& [tensor, shape] : expected) {
      SCOPED_TRACE(tensor);
      ASSERT_TRUE(ckpt.contains(tensor));
      const model::SafeTensor& t = ckpt.get(tensor);
      EXPECT_EQ(t.shape, shape);
      EXPECT_EQ(t.dtype_name, stored);
      files.insert(t.file);
      const std::vector<float> values = ckpt.load_f32(tensor, shape);
      int64_t numel = 1;
      for (const int64_t d : shape) numel *= d;
      ASSERT_EQ(int64_t(values.size()), numel);
      EXPECT_TRUE(
          std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }));
      // Norms were perturbed around 1 by the fixture script: nothing may read as all zeros.
      EXPECT_TRUE(std::any_of(values.begin(), values.end(), [](float v) { return v != 0.f; }));
    }
    const bool sharded = fs::exists(dir / "model.safetensors.index.json");
    EXPECT_EQ(sharded, name == "llama_tied_sharded_bf16" || name == "qwen2_bias");
    if (sharded) {
      EXPECT_GT(files.size(), 1u) << "tensors should come from several shards";
    }
  }
}

TEST(ModelFixtures, RopeFrequenciesMatchTransformers) {
  for (const Json& m : manifest()["models"]) {
    const std::string name = m["name"];
    SCOPED_TRACE(name);
    const ModelConfig c = model::load_model_config(kFixtures / m["dir"].get<std::string>());
    const int64_t seq_len = int64_t(m["tokens"].size());
    const model::RopeFrequencies f =
        model::rope_frequencies(c.rope, c.head_dim, c.max_position_embeddings, seq_len);
    const std::vector<double> want = m["inv_freq_after_prompt"];
    ASSERT_EQ(f.inv_freq.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(f.inv_freq[i], want[i], 1e-6 * std::abs(want[i])) << "inv_freq[" << i << "]";
    }
    EXPECT_NEAR(f.attention_scaling, m["attention_scaling"].get<double>(), 1e-9);
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE against direct formulas.

model::RopeConfig rope_of(RopeType type, double factor = 1.0) {
  model::RopeConfig r;
  r.type = type;
  r.factor = factor;
  return r;
}

TEST(RopeFrequencies, FollowTheDefinitions) {
  const int64_t D = 34;  // odd D/2 = 17
  const model::RopeFrequencies base =
      model::rope_frequencies(rope_of(RopeType::standard), D, 64, 10);
  for (int64_t i = 0; i < D / 2; ++i) {
    EXPECT_NEAR(base.inv_freq[size_t(i)], std::pow(10000.0, -2.0 * i / D),
                2e-6 * std::pow(10000.0, -2.0 * i / D));
  }
  EXPECT_EQ(base.attention_scaling, 1.0);
  // Linear: frequencies / factor.
  const auto linear = model::rope_frequencies(rope_of(RopeType::linear, 3.0), D, 64, 10);
  for (size_t i = 0; i < base.inv_freq.size(); ++i)
    EXPECT_NEAR(linear.inv_freq[i], base.inv_freq[i] / 3.0, 1e-6 * base.inv_freq[i]);
  // Dynamic: the plain frequencies up to max_position_embeddings, NTK base' beyond it.
  const auto dyn_short = model::rope_frequencies(rope_of(RopeType::dynamic, 2.0), D, 64, 64);
  EXPECT_EQ(dyn_short.inv_freq, base.inv_freq);
  const auto dyn_long = model::rope_frequencies(rope_of(RopeType::dynamic, 2.0), D, 64, 200);
  const double base_long = 10000.0 * std::pow(2.0 * 200 / 64 - 1.0, double(D) / (D - 2));
  for (int64_t i = 0; i < D / 2; ++i) {
    const double want = std::pow(base_long, -2.0 * i / D);
    EXPECT_NEAR(dyn_long.inv_freq[size_t(i)], want, 2e-6 * want);
  }
  // Llama 3: high frequencies kept, low ones divided by factor, the band in between blended.
  model::RopeConfig l3 = rope_of(RopeType::llama3, 8.0);
  l3.theta = 500000.0;
  l3.original_max_position_embeddings = 8192;
  const auto llama3 = model::rope_frequencies(l3, 128, 131072, 10);
  for (int64_t i = 0; i < 64; ++i) {
    const double f = std::pow(500000.0, -2.0 * i / 128), wavelen = 2 * std::numbers::pi / f;
    double want = f;
    if (wavelen > 8192.0) {
      want = f / 8.0;
    } else if (wavelen >= 8192.0 / 4.0) {
      const double s = (8192.0 / wavelen - 1.0) / 3.0;
      want = (1 - s) * f / 8.0 + s * f;
    }
    EXPECT_NEAR(llama3.inv_freq[size_t(i)], want, 2e-6 * want) << i;
  }
  // YaRN: attention factor 0.1 ln(s) + 1; the first (fastest) dims extrapolated, the last
  // interpolated.
  model::RopeConfig y = rope_of(RopeType::yarn, 16.0);
  y.original_max_position_embeddings = 4096;
  const auto yarn = model::rope_frequencies(y, 64, 65536, 10);
  const auto plain = model::rope_frequencies(rope_of(RopeType::standard), 64, 65536, 10);
  EXPECT_NEAR(yarn.attention_scaling, 0.1 * std::log(16.0) + 1.0, 1e-12);
  EXPECT_EQ(yarn.inv_freq[0], plain.inv_freq[0]);
  EXPECT_NEAR(yarn.inv_freq[31], plain.inv_freq[31] / 16.0, 1e-6 * plain.inv_freq[31]);
  y.mscale = 0.707;
  y.mscale_all_dim = 0.707;
  EXPECT_NEAR(model::rope_frequencies(y, 64, 65536, 10).attention_scaling, 1.0, 1e-12);
  y.mscale_all_dim = 1.0;
  EXPECT_NEAR(model::rope_frequencies(y, 64, 65536, 10).attention_scaling,
              (0.0707 * std::log(16.0) + 1) / (0.1 * std::log(16.0) + 1), 1e-12);
  // LongRoPE: short factors up to the original context, long ones past it.
  model::RopeConfig lr = rope_of(RopeType::longrope);
  lr.original_max_position_embeddings = 100;
  lr.short_factor.assign(8, 2.0);
  lr.long_factor.assign(8, 5.0);
  const auto lr_short = model::rope_frequencies(lr, 16, 400, 100);
  const auto lr_long = model::rope_frequencies(lr, 16, 400, 101);
  const auto plain16 = model::rope_frequencies(rope_of(RopeType::standard), 16, 400, 10);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(lr_short.inv_freq[i], plain16.inv_freq[i] / 2.0, 1e-6 * plain16.inv_freq[i]);
    EXPECT_NEAR(lr_long.inv_freq[i], plain16.inv_freq[i] / 5.0, 1e-6 * plain16.inv_freq[i]);
  }
  EXPECT_NEAR(lr_short.attention_scaling, std::sqrt(1 + std::log(4.0) / std::log(100.0)), 1e-12);
}

TEST(RopeFrequencies, RejectBadArguments) {
  expect_argument_error([] { model::rope_frequencies(rope_of(RopeType::standard), 33, 64, 1); },
                        "head_dim");
  model::RopeConfig lr = rope_of(RopeType::longrope);
  lr.short_factor.assign(7, 1.0);
  lr.long_factor.assign(8, 1.0);
  expect_argument_error([&] { model::rope_frequencies(lr, 16, 64, 1); },
                        "rope_parameters.short_factor");
}

// x [tokens, heads, D] with rows `stride` apart, rotated by the float64 formula on the angle HF
// forms (a float32 product position · inv_freq).
std::vector<double> rotate_f64(const std::vector<float>& x, int64_t tokens, int64_t heads,
                               int64_t D, int64_t stride, const std::vector<int64_t>& positions,
                               const model::RopeFrequencies& f) {
  std::vector<double> out(x.begin(), x.end());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < D / 2; ++i) {
        const double angle = double(float(positions[size_t(t)]) * f.inv_freq[size_t(i)]);
        const double c = std::cos(angle) * f.attention_scaling,
                     s = std::sin(angle) * f.attention_scaling;
        const size_t a = size_t(t * stride + h * D + i), b = a + size_t(D / 2);
        out[a] = double(x[a]) * c - double(x[b]) * s;
        out[b] = double(x[b]) * c + double(x[a]) * s;
      }
    }
  }
  return out;
}

TEST(RotaryEmbedding, ApplyMatchesFloat64Formula) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  model::RopeConfig y = rope_of(RopeType::yarn, 4.0);  // attention scaling != 1
  y.original_max_position_embeddings = 64;
  // Below and above the OpenMP threshold; odd head counts, D/2 odd, padded rows.
  for (const auto [tokens, heads, D] :
       {std::array<int64_t, 3>{37, 3, 34}, std::array<int64_t, 3>{sized(211), 5, 66}}) {
    SCOPED_TRACE(::testing::Message() << tokens << " tokens, " << heads << " heads, D " << D);
    const int64_t stride = heads * D + 5;
    const model::RopeFrequencies f = model::rope_frequencies(y, D, 256, tokens);
    model::RotaryEmbedding rope(f, D);
    rope.reserve(7);
    rope.reserve(300);  // grows the table in two steps
    std::vector<float> x(size_t(tokens * stride));
    for (float& v : x) v = rng.normal();
    std::vector<int64_t> positions(static_cast<size_t>(tokens));
    for (int64_t& p : positions) p = rng.uniform_int(0, 299);
    const std::vector<double> want = rotate_f64(x, tokens, heads, D, stride, positions, f);
    std::vector<float> got = x;
    rope.apply(got.data(), tokens, heads, stride, positions.data());
    EXPECT_TRUE(
        rows_close(std::vector<double>(got.begin(), got.end()), want, stride, 1e-5, "rotated x"));
    for (int64_t t = 0; t < tokens; ++t) {  // the padding between rows is never touched
      for (int64_t k = heads * D; k < stride; ++k)
        ASSERT_EQ(got[size_t(t * stride + k)], x[size_t(t * stride + k)]);
    }
    // One table built at once gives bit-identical rotations.
    model::RotaryEmbedding direct(f, D);
    direct.reserve(300);
    std::vector<float> again = x;
    direct.apply(again.data(), tokens, heads, stride, positions.data());
    EXPECT_EQ(again, got);
  }
}

TEST(RotaryEmbedding, RejectsUnreservedPositions) {
  model::RotaryEmbedding rope(model::rope_frequencies(rope_of(RopeType::standard), 8, 64, 1), 8);
  rope.reserve(10);
  std::vector<float> x(8, 1.f);
  const int64_t bad = 10;
  expect_argument_error([&] { rope.apply(x.data(), 1, 1, 8, &bad); }, "positions");
  const int64_t ok = 9;
  expect_argument_error([&] { rope.apply(x.data(), 1, 2, 8, &ok); }, "token_stride");
  expect_argument_error(
      [] {
        model::RotaryEmbedding(model::RopeFrequencies{{1.f}, 1.0}, 8);
      },
      "inv_freq");
}

// ---------------------------------------------------------------------------------------------
// Safetensors: our writer, our reader, and files the reader must refuse.

std::vector<uint8_t> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& file, const std::vector<uint8_t>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// A safetensors file with a header we write by hand and `data_size` bytes of data.
void write_raw(const fs::path& file, const std::string& header, size_t data_size) {
  std::vector<uint8_t> bytes(8);
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_size; ++i) bytes.push_back(uint8_t(i * 37 + 1));
  write_bytes(file, bytes);
}

TEST(Safetensors, SaveThenOpenRoundTrips) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  test::TempDir dir("longctx_model_io");
  struct Spec {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype;
  };
  const std::vector<Spec> specs = {
      {"b.weight", {3, 5}, DType::f32},  {"a.bias", {7}, DType::bf16},
      {"c.norm", {2, 3, 3}, DType::f16}, {"d.f32_after_f16", {5}, DType::f32},
      {"empty", {0, 4}, DType::f32},     {"scalar", {}, DType::bf16}};
  std::vector<std::vector<float>> data;
  std::vector<model::TensorToSave> tensors;
  for (const Spec& s : specs) {
    int64_t n = 1;
    for (const int64_t d : s.shape) n *= d;
    data.emplace_back(size_t(n));
    for (float& v : data.back()) v = rng.normal(0.f, 3.f);
  }
  for (size_t i = 0; i < specs.size(); ++i)
    tensors.push_back({specs[i].name, specs[i].shape, data[i].data(), specs[i].dtype});
  const fs::path file = dir.path() / "model.safetensors";
  model::save_safetensors(file, tensors, {{"note", "round trip"}});

  // The header as HF writes it: length a multiple of 8, keys sorted, __metadata__ strings.
  const std::vector<uint8_t> bytes = read_bytes(file);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  const std::string header_text(bytes.begin() + 8, bytes.begin() + 8 + long(header_len));
  const Json header = Json::parse(header_text);
  EXPECT_EQ(header["__metadata__"], (Json{{"format", "pt"}, {"note", "round trip"}}));
  size_t last = 0;
  for (const auto& [key, value] : header.items()) {
    const size_t at = header_text.find("\"" + key + "\":");
    EXPECT_GE(at, last) << key << " out of order";
    last = at;
  }

  for (const fs::path& path : {file, dir.path()}) {  // the file itself, or its directory
    const Checkpoint ckpt = Checkpoint::open(path);
    const std::vector<std::string> names = ckpt.names();
    ASSERT_EQ(names.size(), specs.size());
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
    for (size_t i = 0; i < specs.size(); ++i) {
      SCOPED_TRACE(specs[i].name);
      const model::SafeTensor& t = ckpt.get(specs[i].name);
      EXPECT_EQ(t.shape, specs[i].shape);
      EXPECT_EQ(t.dtype_name, specs[i].dtype == DType::f32    ? "F32"
                              : specs[i].dtype == DType::bf16 ? "BF16"
                                                              : "F16");
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % size_t(dtype_size(specs[i].dtype)), 0u);
      const std::vector<float> got = ckpt.load_f32(specs[i].name, specs[i].shape);
      ASSERT_EQ(got.size(), data[i].size());
      for (size_t k = 0; k < got.size(); ++k) {
        float want = data[i][k];
        if (specs[i].dtype == DType::bf16) want = bf16_to_f32(f32_to_bf16(want));
        if (specs[i].dtype == DType::f16) want = f16_to_f32(f32_to_f16(want));
        ASSERT_EQ(got[k], want) << k;
      }
    }
    const std::string message = expect_argument_error(
        [&] {
          ckpt.load_f32("b.weight", std::vector<int64_t>{5, 3});
        },
        "tensor b.weight");
    EXPECT_NE(message.find("expected shape [5, 3], got [3, 5]"), std::string::npos) << message;
    expect_argument_error([&] { ckpt.get("missing.weight"); }, "tensor missing.weight");
  }

  expect_argument_error(
      [&] {
        model::save_safetensors(dir.path() / "x.safetensors",
                                {tensors[0], tensors[0]});  // the same name twice
      },
      "tensors");
}

TEST(Safetensors, ReadsUnalignedSixteenBitData) {
  // Writers other than HF's may put a 16-bit tensor at an odd offset.
  test::TempDir dir("longctx_model_io");
  const fs::path file = dir.path() / "odd.safetensors";
  write_raw(file,
            R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
            R"("w":{"dtype":"BF16","shape":[3],"data_offsets":[1,7]}})",
            7);
  const Checkpoint ckpt = Checkpoint::open(file);
  const std::vector<float> got = ckpt.load_f32("w", std::vector<int64_t>{3});
  const std::vector<uint8_t> bytes = read_bytes(file);
  const size_t data = bytes.size() - 7;
  for (size_t k = 0; k < 3; ++k) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + data + 1 + 2 * k, 2);
    EXPECT_EQ(got[k], bf16_to_f32(bits));
  }
  const std::string message =
      expect_argument_error([&] { ckpt.load_f32("pad", std::vector<int64_t>{1}); }, "tensor pad");
  EXPECT_NE(message.find("U8"), std::string::npos);
}

TEST(Safetensors, RejectsCorruptFiles) {
  test::TempDir dir("longctx_model_io");
  const fs::path good = dir.path() / "good.safetensors";
  const std::vector<float> values = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  model::save_safetensors(good, {{"w", {2, 3}, values.data(), DType::f32}});
  const std::vector<uint8_t> bytes = read_bytes(good);
  const fs::path bad = dir.path() / "bad.safetensors";
  const std::string bad_arg = "safetensors file " + bad.string();

  // Truncated data: the tensor's end lies past the file's end.
  write_bytes(bad, std::vector<uint8_t>(bytes.begin(), bytes.end() - 3));
  expect_argument_error([&] { Checkpoint::open(bad); }, "tensor w");
  // Truncated inside the header, and shorter than the length field itself.
  write_bytes(bad, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20));
  expect_argument_error([&] { Checkpoint::open(bad); }, bad_arg);
  write_bytes(bad, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 5));
  expect_argument_error([&] { Checkpoint::open(bad); }, bad_arg);
  write_bytes(bad, {});
  expect_argument_error([&] { Checkpoint::open(bad); }, bad_arg);
  // A header length past the end (and one near 2^64, which must not wrap around).
  for (const uint64_t n : {uint64_t(bytes.size()), ~uint64_t(0) - 4}) {
    std::vector<uint8_t> b = bytes;
    std::memcpy(b.data(), &n, 8);
    write_bytes(bad, b);
    expect_argument_error([&] { Checkpoint::open(bad); }, bad_arg);
  }
  // Headers that lie.
  const auto rejects = [&](const std::string& header, size_t data_size, const std::string& arg) {
    SCOPED_TRACE(header);
    write_raw(bad, header, data_size);
    expect_argument_error([&] { Checkpoint::open(bad); }, arg);
  };
  rejects(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,10]}})", 12, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}})", 12, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[8,4]}})", 12, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0]}})", 12, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}})", 12, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,12]}})", 12,
          "tensor w");
  rejects(R"({"w":{"dtype":"Q4","shape":[3],"data_offsets":[0,12]}})", 12, "tensor w");
  rejects(R"({"w":{"shape":[3],"data_offsets":[0,12]}})", 12, "tensor w");
  rejects(R"({"w":[1,2,3]})", 12, "tensor w");
  rejects(R"({"v":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
          R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
          16, "tensor w");
  rejects(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]})", 12, bad_arg);  // bad JSON
  rejects(R"([1, 2])", 12, bad_arg);
  rejects(R"({"__metadata__":"pt"})", 0, bad_arg);

  // Random damage to the length field and the header: open either succeeds (the damage hit
  // only padding or a value still consistent) or throws ArgumentError; never anything else.
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  int rejected = 0;
  for (int trial = 0; trial < (small_sizes() ? 60 : 300); ++trial) {
    std::vector<uint8_t> b = bytes;
    const int flips = int(rng.uniform_int(1, 3));
    for (int k = 0; k < flips; ++k) {
      const size_t at = size_t(rng.uniform_int(0, int64_t(8 + header_len) - 1));
      b[at] = uint8_t(rng.uniform_int(0, 255));
    }
    write_bytes(bad, b);
    try {
      const Checkpoint ckpt = Checkpoint::open(bad);
      for (const std::string& name : ckpt.names()) {
        const model::SafeTensor& t = ckpt.get(name);
        if (t.dtype_name == "F32" || t.dtype_name == "BF16" || t.dtype_name == "F16")
          (void)ckpt.load_f32(name, t.shape);
      }
    } catch (const ArgumentError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);

  expect_argument_error([&] { Checkpoint::open(dir.path() / "absent.safetensors"); }, "checkpoint");
  const fs::path empty_dir = dir.path() / "empty";
  fs::create_directories(empty_dir);
  expect_argument_error([&] { Checkpoint::open(empty_dir); }, "checkpoint");
}

TEST(Safetensors, ShardedIndexIsChecked) {
  test::TempDir dir("longctx_model_io");
  const std::vector<float> a = {1.f, 2.f}, b = {3.f, 4.f, 5.f};
  model::save_safetensors(dir.path() / "s1.safetensors", {{"a", {2}, a.data(), DType::bf16}});
  model::save_safetensors(dir.path() / "s2.safetensors", {{"b", {3}, b.data(), DType::f16}});
  const auto write_index = [&](const Json& weight_map) {
    std::ofstream(dir.path() / "model.safetensors.index.json")
        << Json{{"metadata", {{"total_size", 10}}}, {"weight_map", weight_map}}.dump();
  };
  write_index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}});
  const Checkpoint ckpt = Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ckpt.load_f32("b", std::vector<int64_t>{3}), b);
  EXPECT_EQ(ckpt.get("a").file, dir.path() / "s1.safetensors");
  // Opening the index file itself works too.
  EXPECT_EQ(Checkpoint::open(dir.path() / "model.safetensors.index.json").names().size(), 2u);

  write_index({{"a", "s2.safetensors"}, {"b", "s2.safetensors"}});  // a is not in s2
  expect_argument_error([&] { Checkpoint::open(dir.path()); }, "tensor a");
  write_index({{"a", "s1.safetensors"}, {"b", "../s2.safetensors"}});
  expect_argument_error([&] { Checkpoint::open(dir.path()); }, "weight_map.b");
  write_index({{"a", "s1.safetensors"}, {"b", "s3.safetensors"}});  // a missing shard
  EXPECT_THROW(Checkpoint::open(dir.path()), RuntimeError);
  std::ofstream(dir.path() / "model.safetensors.index.json") << R"({"weight_map": [)";
  expect_argument_error([&] { Checkpoint::open(dir.path()); },
                        "index " + (dir.path() / "model.safetensors.index.json").string());
  // The same tensor in two shards.
  model::save_safetensors(dir.path() / "s3.safetensors", {{"a", {2}, a.data(), DType::f32}});
  write_index({{"a", "s1.safetensors"}, {"b", "s3.safetensors"}});
  expect_argument_error([&] { Checkpoint::open(dir.path()); }, "tensor a");
}

// ---------------------------------------------------------------------------------------------
// config.json variants and errors.

Json fixture_config(const std::string& name) {
  return read_json(kFixtures / "models" / name / "config.json");
}

ModelConfig parse(const Json& j) {
  return model::parse_model_config(j.dump());
}

TEST(ModelConfig, TransformersFourFormParsesTheSame) {
  for (const std::string name : {"llama_linear", "llama3_rope", "llama_yarn", "llama_longrope"}) {
    SCOPED_TRACE(name);
    const Json v5 = fixture_config(name);
    Json v4 = v5;
    v4.erase("rope_parameters");
    v4.erase("dtype");
    v4["torch_dtype"] = "float32";
    v4["rope_theta"] = 10000.0;
    Json scaling = v5["rope_parameters"];
    scaling.erase("rope_theta");
    scaling["type"] = scaling["rope_type"];  // 4.x spelled it "type"
    scaling.erase("rope_type");
    v4["rope_scaling"] = scaling;
    const ModelConfig a = parse(v5), b = parse(v4);
    EXPECT_EQ(a.rope.type, b.rope.type);
    EXPECT_EQ(a.rope.factor, b.rope.factor);
    EXPECT_EQ(a.rope.original_max_position_embeddings, b.rope.original_max_position_embeddings);
    EXPECT_EQ(a.weight_dtype, b.weight_dtype);
    for (const int64_t seq : {1, 40, 100}) {
      const auto fa = model::rope_frequencies(a.rope, a.head_dim, a.max_position_embeddings, seq);
      const auto fb = model::rope_frequencies(b.rope, b.head_dim, b.max_position_embeddings, seq);
      EXPECT_EQ(fa.inv_freq, fb.inv_freq);
      EXPECT_EQ(fa.attention_scaling, fb.attention_scaling);
    }
  }
  // rope_scaling null, theta at the top level.
  Json j = fixture_config("mistral_window");
  j.erase("rope_parameters");
  j["rope_scaling"] = nullptr;
  j["rope_theta"] = 1e6;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.rope.type, RopeType::standard);
  EXPECT_EQ(c.rope.theta, 1e6);
}

TEST(ModelConfig, DefaultsAndVariants) {
  Json j = fixture_config("llama_tied_sharded_bf16");
  for (const char* key : {"num_key_value_heads", "head_dim", "rms_norm_eps", "hidden_act",
                          "tie_word_embeddings", "dtype", "max_position_embeddings"})
    j.erase(key);
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = {2, 7};
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  ModelConfig c = parse(j);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.weight_dtype, DType::f32);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_TRUE(c.bos_token_ids.empty());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{2, 7}));
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  // Without model_type the architectures list decides.
  j.erase("model_type");
  j["architectures"] = {"Qwen2ForCausalLM"};
  c = parse(j);
  EXPECT_EQ(c.architecture, Architecture::qwen2);
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);

  // Mistral: sliding_window null → full attention, absent → MistralConfig's 4096.
  Json m = fixture_config("mistral_window");
  m["sliding_window"] = nullptr;
  EXPECT_EQ(parse(m).sliding_window, (std::vector<int64_t>{0, 0}));
  m.erase("sliding_window");
  EXPECT_EQ(parse(m).sliding_window, (std::vector<int64_t>{4096, 4096}));

  // Qwen2: the window only with use_sliding_window; layer_types, else max_window_layers.
  Json q = fixture_config("qwen2_bias");
  q["num_hidden_layers"] = 3;
  q.erase("layer_types");
  q["use_sliding_window"] = true;
  q["sliding_window"] = 16;
  q["max_window_layers"] = 1;
  EXPECT_EQ(parse(q).sliding_window, (std::vector<int64_t>{0, 16, 16}));
  q["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention"};
  EXPECT_EQ(parse(q).sliding_window, (std::vector<int64_t>{16, 0, 16}));
  q["use_sliding_window"] = false;
  EXPECT_EQ(parse(q).sliding_window, (std::vector<int64_t>{0, 0, 0}));

  // YaRN with a null factor (the context ratio) and DeepSeek's mscale pair.
  Json y = fixture_config("llama_yarn");
  y["rope_parameters"]["factor"] = nullptr;
  y["rope_parameters"]["mscale"] = 1.0;
  y["rope_parameters"]["mscale_all_dim"] = 0.5;
  y["rope_parameters"]["truncate"] = false;
  c = parse(y);
  EXPECT_EQ(c.rope.factor, 4.0);  // 128 / 32
  EXPECT_FALSE(c.rope.truncate);
  EXPECT_NEAR(model::rope_frequencies(c.rope, 32, 128, 10).attention_scaling,
              (0.1 * std::log(4.0) + 1) / (0.05 * std::log(4.0) + 1), 1e-12);
  // LongRoPE with an explicit factor of 1: no attention scaling, as in HF.
  Json lr = fixture_config("llama_longrope");
  lr["rope_parameters"]["factor"] = 1.0;
  EXPECT_EQ(model::rope_frequencies(parse(lr).rope, 32, 128, 10).attention_scaling, 1.0);
  // Phi-3 style original_max_position_embeddings at the top level wins.
  lr["rope_parameters"].erase("factor");
  lr["original_max_position_embeddings"] = 64;
  c = parse(lr);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 64);
  EXPECT_NEAR(model::rope_frequencies(c.rope, 32, 128, 10).attention_scaling,
              std::sqrt(1 + std::log(2.0) / std::log(64.0)), 1e-12);
}

TEST(ModelConfig, ErrorsNameTheKey) {
  const Json base = fixture_config("llama3_rope");
  const auto fails = [&](auto edit, const std::string& key) {
    SCOPED_TRACE(key);
    Json j = base;
    edit(j);
    return expect_argument_error([&] { parse(j); }, key);
  };
  std::string message = fails([](Json& j) { j.erase("hidden_size"); }, "hidden_size");
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
  fails([](Json& j) { j["hidden_size"] = "64"; }, "hidden_size");
  fails([](Json& j) { j["num_hidden_layers"] = 0; }, "num_hidden_layers");
  fails([](Json& j) { j["vocab_size"] = 3.5; }, "vocab_size");
  message = fails([](Json& j) { j["rope_parameters"]["rope_type"] = "ntk-magic"; },
                  "rope_parameters.rope_type");
  EXPECT_NE(message.find("ntk-magic"), std::string::npos) << message;
  message = fails([](Json& j) { j["hidden_act"] = "gelu"; }, "hidden_act");
  EXPECT_NE(message.find("gelu"), std::string::npos) << message;
  fails([](Json& j) { j["num_key_value_heads"] = 3; }, "num_key_value_heads");
  fails([](Json& j) { j["head_dim"] = 31; }, "head_dim");
  fails([](Json& j) { j["model_type"] = "gemma"; }, "model_type");
  fails([](Json& j) { j["dtype"] = "int8"; }, "dtype");
  fails([](Json& j) { j["rope_parameters"].erase("low_freq_factor"); },
        "rope_parameters.low_freq_factor");
  fails([](Json& j) { j["rope_parameters"]["factor"] = -2; }, "rope_parameters.factor");
  fails([](Json& j) { j["rope_parameters"]["high_freq_factor"] = 0.5; },
        "rope_parameters.high_freq_factor");
  fails([](Json& j) { j["rope_parameters"]["partial_rotary_factor"] = 0.5; },
        "rope_parameters.partial_rotary_factor");
  fails([](Json& j) { j["eos_token_id"] = "</s>"; }, "eos_token_id");
  fails([](Json& j) { j["tie_word_embeddings"] = "yes"; }, "tie_word_embeddings");
  fails(
      [](Json& j) {
        j["rope_parameters"] = {{"rope_type", "longrope"},
                                {"short_factor", std::vector<double>(15, 1.0)},
                                {"long_factor", std::vector<double>(16, 1.0)}};
      },
      "rope_parameters.short_factor");
  fails(
      [](Json& j) {
        j.erase("rope_parameters");
        j["rope_scaling"] = {{"type", "linear"}};
      },
      "rope_scaling.factor");
  expect_argument_error([] { model::parse_model_config("{\"hidden_size\": "); }, "config");
  expect_argument_error([] { model::load_model_config("/nonexistent/dir/config.json"); }, "config");
}

}  // namespace
}  // namespace longctx::test
