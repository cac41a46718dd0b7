// The passkey evaluator: grid bookkeeping against scripted "models" whose answers are known
// (accuracy per cell and overall, trials, seeds, progress, the heatmap's transpose), bad
// options, and the production path on a tiny random checkpoint (the greedy generator's text is
// a prefix of model::generate's greedy continuation).
#include <gtest/gtest.h>

#include <set>

#include "longctx/core/error.hpp"
#include "longctx/model/config.hpp"
#include "longctx/model/generate.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/train/passkey_eval.hpp"

namespace longctx::train {
namespace {

const model::Tokenizer& bytes() {
  static const auto tokenizer = model::make_byte_tokenizer();
  return *tokenizer;
}

PasskeyEvalOptions grid(std::vector<int64_t> lengths, std::vector<double> depths, int trials) {
  PasskeyEvalOptions o;
  o.lengths = std::move(lengths);
  o.depths = std::move(depths);
  o.trials = trials;
  o.seed = 1234;
  return o;
}

// Where the asked key first appears, as a fraction of the prompt.
double key_position(const PasskeySample& s) {
  return double(s.random_key_bytes[0].first) / double(s.prompt.size());
}

TEST(PasskeyEval, ScriptedModelThatSeesOnlyTheFirstHalf) {
  const PasskeyEvalOptions o = grid({600, 1024, 2000}, {0, 25, 75, 100}, 3);
  int calls = 0;
  const PasskeyGenerateFn model = [&](const PasskeySample& s, int64_t max_new) {
    ++calls;
    EXPECT_EQ(max_new, o.key_digits + 2);
    EXPECT_LE(int64_t(s.prompt_tokens.size()), 2000);
    return key_position(s) < 0.5 ? s.answer + "." : std::string(" 99999");
  };
  std::vector<size_t> done;
  const PasskeyEvalResult r =
      evaluate_passkey(o, bytes(), model, [&](const PasskeyCell& c, size_t d, size_t total) {
        EXPECT_EQ(total, 12u);
        EXPECT_EQ(c.trials, 3);
        done.push_back(d);
      });
  EXPECT_EQ(calls, 3 * 4 * 3);
  EXPECT_EQ(done, (std::vector<size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  ASSERT_EQ(r.cells.size(), 12u);
  EXPECT_EQ(r.trials, 36);
  EXPECT_EQ(r.found, 18);
  EXPECT_DOUBLE_EQ(r.accuracy(), 0.5);
  EXPECT_GE(r.seconds, 0.0);
  for (size_t l = 0; l < 3; ++l) {
    for (size_t d = 0; d < 4; ++d) {
      const PasskeyCell& c = r.cell(l, d);
      EXPECT_EQ(c.length, o.lengths[l]);
      EXPECT_EQ(c.depth_percent, o.depths[d]);
      EXPECT_EQ(c.accuracy(), d < 2 ? 1.0 : 0.0)
          << "length " << c.length << " depth " << c.depth_percent;
    }
  }
  // The heatmap holds the same numbers as depth rows × length columns.
  const HeatmapGrid h = passkey_heatmap(r, "scripted");
  EXPECT_EQ(h.lengths, o.lengths);
  EXPECT_EQ(h.depths, o.depths);
  ASSERT_EQ(h.accuracy.size(), 12u);
  for (size_t d = 0; d < 4; ++d)
    for (size_t l = 0; l < 3; ++l) EXPECT_EQ(h.accuracy[d * 3 + l], r.cell(l, d).accuracy());
  EXPECT_EQ(h.overall_accuracy, 0.5);
  EXPECT_EQ(h.title, "scripted");
}

TEST(PasskeyEval, TrialsDrawTheirOwnKeysAndKeepThemAcrossCells) {
  const PasskeyEvalOptions o = grid({700, 900}, {10, 90}, 4);
  std::vector<std::string> keys;  // in call order: cell by cell, trials inside
  const PasskeyGenerateFn model = [&](const PasskeySample& s, int64_t) {
    keys.push_back(s.key);
    return keys.size() % 2 ? s.answer : std::string("no idea");  // every other trial found
  };
  const PasskeyEvalResult r = evaluate_passkey(o, bytes(), model);
  ASSERT_EQ(keys.size(), 16u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.begin() + 4).size(), 4u);
  for (size_t cell = 1; cell < 4; ++cell)
    for (size_t t = 0; t < 4; ++t) EXPECT_EQ(keys[cell * 4 + t], keys[t]);
  for (const PasskeyCell& c : r.cells) EXPECT_EQ(c.accuracy(), 0.5);
  // Another seed, other keys.
  PasskeyEvalOptions other = o;
  other.seed = 99;
  std::vector<std::string> first;
  evaluate_passkey(other, bytes(), [&](const PasskeySample& s, int64_t) {
    first.push_back(s.key);
    return std::string();
  });
  EXPECT_NE(first[0], keys[0]);
}

TEST(PasskeyEval, MultiNeedleAsksForOneOfSeveralDoors) {
  PasskeyEvalOptions o = grid({1500}, {50}, 2);
  o.needles = 4;
  o.key_digits = 7;
  evaluate_passkey(o, bytes(), [&](const PasskeySample& s, int64_t max_new) {
    EXPECT_EQ(s.random_key_bytes.size(), 4u);
    EXPECT_EQ(s.key.size(), 7u);
    EXPECT_EQ(max_new, 9);
    EXPECT_NE(s.prompt.find(" door? "), std::string::npos);
    return s.answer;
  });
}

TEST(PasskeyEval, BadOptionsNameTheField) {
  const auto expect_error = [](const PasskeyEvalOptions& o, const std::string& field) {
    try {
      evaluate_passkey(o, bytes(), [](const PasskeySample&, int64_t) { return std::string(); });
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  expect_error(grid({}, {50}, 1), "lengths");
  expect_error(grid({1000}, {}, 1), "depths");
  expect_error(grid({1000}, {50, 101}, 1), "depths");
  expect_error(grid({1000}, {-5}, 1), "depths");
  expect_error(grid({1000}, {50}, 0), "trials");
  const int64_t minimum = passkey_eval_min_length(grid({}, {}, 3), bytes());
  expect_error(grid({1000, minimum - 1}, {50}, 3), "lengths");
  PasskeyEvalOptions o = grid({1000}, {50}, 1);
  o.needles = 0;
  expect_error(o, "needles");
  o = grid({1000}, {50}, 1);
  o.key_digits = 40;
  expect_error(o, "key_digits");
  // The minimum itself is accepted.
  EXPECT_NO_THROW(evaluate_passkey(grid({minimum}, {0, 100}, 3), bytes(),
                                   [](const PasskeySample&, int64_t) { return std::string(); }));
}

struct FixtureModel {
  model::ModelConfig config;
  model::DecoderWeights weights;
  std::unique_ptr<model::Tokenizer> tokenizer;
  FixtureModel() {
    const std::string dir = std::string(LONGCTX_SOURCE_DIR) + "/model/fixtures/models/llama3_rope";
    config = model::load_model_config(dir);
    weights = model::load_decoder_weights(model::Checkpoint::open(dir), config);
    tokenizer = model::load_tokenizer(dir);  // no tokenizer files: bytes
  }
};

TEST(PasskeyEval, TinyRandomModelOnTheGrid) {
  const FixtureModel m;
  const PasskeyEvalOptions o = grid({260, 300}, {0, 100}, 2);
  model::DecoderOptions threads;
  threads.threads = 2;
  size_t cells = 0;
  const PasskeyEvalResult r = evaluate_passkey_model(
      m.config, m.weights, model::schedule_from_config(m.config), *m.tokenizer, o, threads,
      [&](const PasskeyCell&, size_t, size_t) { ++cells; });
  EXPECT_EQ(cells, 4u);
  ASSERT_EQ(r.cells.size(), 4u);
  EXPECT_EQ(r.trials, 8);
  EXPECT_GE(r.accuracy(), 0.0);
  EXPECT_LE(r.accuracy(), 1.0);
  for (const PasskeyCell& c : r.cells) EXPECT_EQ(c.trials, 2);
}

TEST(PasskeyEval, GreedyGeneratorContinuesAsModelGenerateDoes) {
  const FixtureModel m;
  model::Decoder decoder(m.config, m.weights, model::schedule_from_config(m.config));
  const PasskeyGenerateFn greedy = greedy_passkey_generator(decoder, *m.tokenizer, {});
  PasskeyOptions po;
  po.length = 280;
  po.depth_percent = 40;
  for (uint64_t seed : {1u, 2u}) {
    const PasskeySample s = make_passkey_sample(po, *m.tokenizer, seed);
    const std::string text = greedy(s, 7);
    model::GenerationOptions gen;
    gen.max_new_tokens = 7;
    model::Decoder reference(m.config, m.weights, model::schedule_from_config(m.config));
    const model::GenerationResult full = model::generate(reference, s.prompt_tokens, gen);
    const std::string full_text = m.tokenizer->decode(full.tokens, true);
    // Stopping early (key out) may cut it short; otherwise all 7 tokens are the same.
    EXPECT_EQ(full_text.compare(0, text.size(), text), 0) << text << " vs " << full_text;
    if (!passkey_found(text, s.key)) {
      EXPECT_EQ(text, full_text);
    }
    // Reused decoder: a second call gives the same text (reset between samples).
    EXPECT_EQ(greedy(s, 7), text);
  }
  // A scripted stop token ends generation at once: the first greedy token is the "EOS".
  const PasskeySample s = make_passkey_sample(po, *m.tokenizer, 3);
  model::GenerationOptions one;
  one.max_new_tokens = 1;
  model::Decoder reference(m.config, m.weights, model::schedule_from_config(m.config));
  const int32_t first = model::generate(reference, s.prompt_tokens, one).tokens.at(0);
  EXPECT_EQ(greedy_passkey_generator(decoder, *m.tokenizer, {first})(s, 7), "");
}

}  // namespace
}  // namespace longctx::train
