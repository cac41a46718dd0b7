// The synthetic passkey data (SPEC §7): the template's exact text, needle placement by depth,
// token budgets (exact for bytes, never exceeded for a word-level tokenizer), determinism,
// keys, the multi-needle variant, training batches and their loss weights, scoring, bad input.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "longctx/core/error.hpp"
#include "longctx/train/passkey_data.hpp"

namespace longctx::train {
namespace {

const std::string kIntro =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
    "them. I will quiz you about the important information there.";
const std::string kQuestion = "What is the pass key? The pass key is";

std::string needle(const std::string& k) {
  return "The pass key is " + k + ". Remember it. " + k + " is the pass key.";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line, '\n');) lines.push_back(line);
  return lines;
}

// A word-level tokenizer unlike bytes: a BOS, then one token per run of letters / digits and
// one per punctuation character; whitespace is dropped (so tokens cannot be added one byte at
// a time and the fit must stop short of the budget at times).
class WordTokenizer final : public model::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool add_special) const override {
    std::vector<int32_t> ids;
    if (add_special) ids.push_back(0);
    for (size_t i = 0; i < text.size();) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (std::isspace(c)) {
        ++i;
      } else if (std::isalnum(c)) {
        size_t j = i;
        uint32_t h = 7;
        while (j < text.size() && std::isalnum(static_cast<unsigned char>(text[j])))
          h = h * 31 + static_cast<unsigned char>(text[j++]);
        ids.push_back(int32_t(1 + h % 997));
        i = j;
      } else {
        ids.push_back(int32_t(1000 + c));
        ++i;
      }
    }
    return ids;
  }
  std::string decode(std::span<const int32_t>, bool) const override { return {}; }
  int64_t vocab_size() const override { return 1256; }
  std::string describe() const override { return "words (test)"; }
  std::optional<int32_t> bos_id() const override { return 0; }
};

const model::Tokenizer& bytes() {
  static const auto tokenizer = model::make_byte_tokenizer();
  return *tokenizer;
}

PasskeyOptions options(int64_t length, double depth, int needles = 1) {
  PasskeyOptions o;
  o.length = length;
  o.depth_percent = depth;
  o.needles = needles;
  return o;
}

TEST(PasskeyData, ShortestPromptIsExactlyTheTemplate) {
  const int64_t minimum = passkey_min_length(options(0, 50), bytes(), 3);
  const PasskeySample s = make_passkey_sample(options(minimum, 50), bytes(), 3);
  EXPECT_EQ(s.prompt, kIntro + "\n" + needle(s.key) + "\n" + kQuestion);
  EXPECT_EQ(s.answer, " " + s.key);
  EXPECT_EQ(int64_t(s.prompt_tokens.size()), minimum);
  EXPECT_EQ(s.answer_tokens, bytes().encode(" " + s.key, false));
}

TEST(PasskeyData, FillerIsTheRepeatedSentencesAroundTheNeedle) {
  const PasskeySample s = make_passkey_sample(options(2000, 40), bytes(), 11);
  const std::vector<std::string> lines = lines_of(s.prompt);
  ASSERT_EQ(lines.size(), 5u);  // instruction, filler, needle, filler, question
  EXPECT_EQ(lines[0], kIntro);
  EXPECT_EQ(lines[2], needle(s.key));
  EXPECT_EQ(lines[4], kQuestion);
  const std::string cycle =
      "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
  std::string stream;
  while (stream.size() < 4000) stream += cycle;
  // Before the needle: the stream from its start, cut at a sentence end.
  EXPECT_EQ(lines[1], stream.substr(0, lines[1].size()));
  EXPECT_EQ(lines[1].back(), '.');
  // After it: the stream going on from the next sentence (possibly cut inside one, at the end).
  EXPECT_EQ(lines[3], stream.substr(lines[1].size() + 1, lines[3].size()));
}

TEST(PasskeyData, DepthPlacesTheNeedleAtSentenceBoundaries) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    const auto at0 = lines_of(make_passkey_sample(options(3000, 0), bytes(), seed).prompt);
    ASSERT_GE(at0.size(), 3u);
    EXPECT_EQ(at0[1].rfind("The pass key is ", 0), 0u) << "depth 0: right after the intro";
    const auto at100 = lines_of(make_passkey_sample(options(3000, 100), bytes(), seed).prompt);
    ASSERT_GE(at100.size(), 3u);
    EXPECT_EQ(at100[at100.size() - 2].rfind("The pass key is ", 0), 0u)
        << "depth 100: right before the question";
    const auto at50 = lines_of(make_passkey_sample(options(3000, 50), bytes(), seed).prompt);
    ASSERT_EQ(at50.size(), 5u);
    // Halfway through the filler, within one sentence (the longest is 21 bytes + its space).
    const double before = double(at50[1].size()), after = double(at50[3].size());
    EXPECT_LE(std::abs(before - after), 2 * 22.0) << before << " vs " << after;
  }
}

TEST(PasskeyData, ByteLengthIsExactAndNeverExceeded) {
  const int64_t minimum = passkey_min_length(options(0, 0), bytes(), 5);
  for (int64_t length : {minimum, minimum + 2, minimum + 3, minimum + 19, minimum + 20, 777L, 1024L,
                         4096L, 10000L}) {
    for (double depth : {0.0, 33.0, 100.0}) {
      const PasskeySample s = make_passkey_sample(options(length, depth), bytes(), 5);
      EXPECT_EQ(int64_t(s.prompt_tokens.size()), length) << length << " at " << depth;
    }
  }
  // minimum + 1: the filler's own line needs two bytes, so the prompt stays one short.
  EXPECT_EQ(int64_t(make_passkey_sample(options(minimum + 1, 50), bytes(), 5).prompt_tokens.size()),
            minimum);
}

TEST(PasskeyData, WordTokenizerLengthNeverExceedsAndComesClose) {
  const WordTokenizer words;
  for (int64_t length : {130L, 131L, 197L, 500L, 2049L}) {
    for (double depth : {0.0, 50.0, 100.0}) {
      for (int needles : {1, 3}) {
        const PasskeySample s = make_passkey_sample(options(length, depth, needles), words, 9);
        const auto n = int64_t(s.prompt_tokens.size());
        EXPECT_LE(n, length);
        EXPECT_GE(n, length - 2) << length << " depth " << depth << " needles " << needles;
        EXPECT_EQ(s.prompt_tokens, words.encode(s.prompt, true));
        EXPECT_EQ(s.prompt_tokens.front(), 0) << "BOS counts toward the length";
      }
    }
  }
}

TEST(PasskeyData, SameSeedSameSampleAndSeedsDiffer) {
  const PasskeySample a = make_passkey_sample(options(1500, 30, 3), bytes(), 42);
  const PasskeySample b = make_passkey_sample(options(1500, 30, 3), bytes(), 42);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.random_key_bytes, b.random_key_bytes);
  std::set<std::string> keys, prompts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const PasskeySample s = make_passkey_sample(options(1500, 30, 3), bytes(), seed);
    keys.insert(s.key);
    prompts.insert(s.prompt);
  }
  EXPECT_GE(keys.size(), 19u);  // 5 digits: a repeat among 20 draws has probability ~2e-3
  EXPECT_EQ(prompts.size(), 20u);
  // The draw does not depend on the length: the same seed asks the same key everywhere.
  EXPECT_EQ(make_passkey_sample(options(400, 0), bytes(), 8).key,
            make_passkey_sample(options(5000, 90), bytes(), 8).key);
}

TEST(PasskeyData, KeysHaveTheRequestedDigitsAndNoLeadingZero) {
  for (int digits : {1, 2, 5, 12, 18}) {
    std::set<char> first_digits;
    for (uint64_t seed = 0; seed < 60; ++seed) {
      PasskeyOptions o = options(600, 50);
      o.key_digits = digits;
      const PasskeySample s = make_passkey_sample(o, bytes(), seed);
      ASSERT_EQ(int(s.key.size()), digits);
      for (char c : s.key) EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(c))) << s.key;
      EXPECT_NE(s.key[0], '0') << s.key;
      first_digits.insert(s.key[0]);
    }
    EXPECT_GE(first_digits.size(), 7u) << "the first digit covers 1..9";
  }
}

TEST(PasskeyData, MultiNeedleHasDistinctDoorsAndAsksOneOfThem) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const PasskeySample s = make_passkey_sample(options(3000, 25, 4), bytes(), seed);
    ASSERT_EQ(s.random_key_bytes.size(), 4u);
    std::set<std::string> keys;
    for (const auto& [begin, end] : s.random_key_bytes) {
      const std::string key = s.prompt.substr(begin, end - begin);
      EXPECT_EQ(s.prompt.find(key), begin) << "a key's first occurrence";
      keys.insert(key);
    }
    EXPECT_EQ(keys.size(), 4u);
    EXPECT_EQ(s.prompt.substr(s.random_key_bytes[0].first, s.key.size()), s.key);
    // The question names a door whose needle holds the asked key.
    const std::vector<std::string> lines = lines_of(s.prompt);
    const std::string& q = lines.back();
    const std::string prefix = "What is the pass key of the ";
    ASSERT_EQ(q.rfind(prefix, 0), 0u) << q;
    const std::string colour = q.substr(prefix.size(), q.find(" door?") - prefix.size());
    EXPECT_EQ(q, prefix + colour + " door? The pass key of the " + colour + " door is");
    const std::string line = "The pass key of the " + colour + " door is " + s.key +
                             ". Remember it. " + s.key + " is the pass key of the " + colour +
                             " door.";
    EXPECT_NE(std::find(lines.begin(), lines.end(), line), lines.end()) << s.prompt;
    int doors = 0;
    for (const std::string& l : lines) doors += l.rfind("The pass key of the ", 0) == 0;
    EXPECT_EQ(doors, 4);
  }
}

TEST(PasskeyData, BadOptionsNameTheField) {
  const auto expect_error = [](PasskeyOptions o, const std::string& field) {
    try {
      make_passkey_sample(o, bytes(), 1);
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  const int64_t minimum = passkey_min_length(options(0, 50), bytes(), 1);
  expect_error(options(minimum - 1, 50), "length");
  expect_error(options(0, 50), "length");
  expect_error(options(1000, -1), "depth_percent");
  expect_error(options(1000, 100.5), "depth_percent");
  expect_error(options(1000, std::nan("")), "depth_percent");
  expect_error(options(1000, 50, 0), "needles");
  expect_error(options(1000, 50, 9), "needles");
  PasskeyOptions o = options(1000, 50);
  o.key_digits = 0;
  expect_error(o, "key_digits");
  o.key_digits = 19;
  expect_error(o, "key_digits");
}

TEST(PasskeyScoring, FoundOnlyWhenTheWholeKeyAppears) {
  EXPECT_TRUE(passkey_found("12345", "12345"));
  EXPECT_TRUE(passkey_found(" 12345", "12345"));
  EXPECT_TRUE(passkey_found("The pass key is 12345. Remember it.", "12345"));
  EXPECT_TRUE(passkey_found("9912345", "12345"));  // SPEC §7: the output contains the key
  EXPECT_FALSE(passkey_found(" 1234", "12345"));
  EXPECT_FALSE(passkey_found("1234 5", "12345"));
  EXPECT_FALSE(passkey_found("54321", "12345"));
  EXPECT_FALSE(passkey_found("", "12345"));
  EXPECT_THROW(passkey_found("12345", ""), ArgumentError);
}

PasskeyBatchOptions batch_options(int64_t rows, int64_t seq_len) {
  PasskeyBatchOptions o;
  o.rows = rows;
  o.seq_len = seq_len;
  o.answer_weight = 4.0;
  o.text_weight = 0.5;
  return o;
}

TEST(PasskeyBatch, RowsArePromptThenAnswerWithTheirWeights) {
  PasskeyBatchOptions o = batch_options(6, 617);
  o.needle_fraction = 0.5;
  const PasskeyBatch b = make_passkey_batch(o, bytes(), 77);
  ASSERT_EQ(b.rows, 6);
  ASSERT_EQ(b.seq_len, 617);
  ASSERT_EQ(b.tokens.size(), 6u * 617);
  ASSERT_EQ(b.loss_weights.size(), 6u * 617);
  ASSERT_EQ(b.keys.size(), 6u);
  for (int64_t r = 0; r < b.rows; ++r) {
    const int32_t* row = b.tokens.data() + r * b.seq_len;
    const float* w = b.loss_weights.data() + r * b.seq_len;
    std::string text(size_t(b.seq_len), '\0');
    for (int64_t t = 0; t < b.seq_len; ++t) text[size_t(t)] = char(row[t]);
    const std::string answer = " " + b.keys[size_t(r)];
    ASSERT_EQ(text.substr(text.size() - answer.size()), answer) << "answer ends the row";
    const auto p = int64_t(text.size() - answer.size());  // prompt tokens
    EXPECT_EQ(text.substr(size_t(p) - 3, 3), " is") << "the question ends the prompt";
    EXPECT_GE(b.depths[size_t(r)], 0.0);
    EXPECT_LE(b.depths[size_t(r)], 100.0);
    EXPECT_EQ(w[b.seq_len - 1], 0.f) << "nothing follows the last token";
    for (int64_t t = p - 1; t < b.seq_len - 1; ++t) EXPECT_EQ(w[t], 4.f) << "answer at " << t;
    // Every key's first occurrence inside the prompt has weight 0, its repetition does not.
    std::set<int64_t> unpredictable;
    const std::string needle_head = "pass key ";
    for (size_t at = text.find(needle_head); at < size_t(p); at = text.find(needle_head, at + 1)) {
      const size_t is = text.find(" is ", at);
      const size_t begin = is + 4;
      if (begin >= size_t(p) || !std::isdigit(static_cast<unsigned char>(text[begin]))) continue;
      for (size_t j = begin; std::isdigit(static_cast<unsigned char>(text[j])); ++j)
        unpredictable.insert(int64_t(j));
      const size_t again = text.find(". Remember it. ", begin) + 15;  // the repetition
      EXPECT_EQ(w[again - 1], 0.5f) << "repeated key digit is text";
    }
    const int keys_in_row = text.find("door") == std::string::npos ? 1 : 3;
    EXPECT_EQ(int(unpredictable.size()), keys_in_row * o.key_digits);
    for (int64_t t = 0; t + 1 < p; ++t)
      EXPECT_EQ(w[t], unpredictable.count(t + 1) ? 0.f : 0.5f) << "row " << r << " t " << t;
  }
  // Deterministic in the seed, different across seeds.
  EXPECT_EQ(make_passkey_batch(o, bytes(), 77).tokens, b.tokens);
  EXPECT_NE(make_passkey_batch(o, bytes(), 78).tokens, b.tokens);
}

TEST(PasskeyBatch, NeedleFractionChoosesTheVariant) {
  PasskeyBatchOptions o = batch_options(5, 700);
  const auto doors = [&](double fraction) {
    o.needle_fraction = fraction;
    const PasskeyBatch b = make_passkey_batch(o, bytes(), 3);
    int rows_with_doors = 0;
    for (int64_t r = 0; r < b.rows; ++r) {
      const std::string text(b.tokens.begin() + r * b.seq_len,
                             b.tokens.begin() + (r + 1) * b.seq_len);
      rows_with_doors += text.find(" door") != std::string::npos;
    }
    return rows_with_doors;
  };
  EXPECT_EQ(doors(0.0), 0);
  EXPECT_EQ(doors(1.0), 5);
}

TEST(PasskeyBatch, OtherTokenizersPadAfterTheAnswerWithWeightZero) {
  const WordTokenizer words;
  const PasskeyBatch b = make_passkey_batch(batch_options(4, 203), words, 5);
  ASSERT_EQ(b.tokens.size(), 4u * 203);
  for (int64_t r = 0; r < b.rows; ++r) {
    const int32_t* row = b.tokens.data() + r * b.seq_len;
    const float* w = b.loss_weights.data() + r * b.seq_len;
    const std::vector<int32_t> answer = words.encode(" " + b.keys[size_t(r)], false);
    ASSERT_EQ(answer.size(), 1u);  // one word
    // The answer follows the prompt (ending in "is"); after it, only padding with weight 0.
    int64_t at = -1;
    for (int64_t t = 1; t < b.seq_len; ++t)
      if (row[t] == answer[0] && row[t - 1] == words.encode("is", false)[0]) at = t;
    ASSERT_GE(at, 1) << "answer in row " << r;
    EXPECT_LE(at, b.seq_len - 1);
    EXPECT_GE(at, b.seq_len - 3) << "at most two tokens of padding";
    EXPECT_EQ(w[at - 1], 4.f);
    for (int64_t t = at; t < b.seq_len; ++t) EXPECT_EQ(w[t], 0.f) << t;
    EXPECT_EQ(row[0], 0) << "BOS";
  }
}

TEST(PasskeyBatch, SubwordTokenizerRowsKeepTheAnswerAndHideTheKeys) {
  // Byte-level BPE with a BOS (the transformers fixture of Llama 3's tokenizer format).
  const auto bpe =
      model::load_tokenizer(std::string(LONGCTX_SOURCE_DIR) + "/model/fixtures/tokenizers/llama3");
  PasskeyBatchOptions o = batch_options(3, 800);
  o.needle_fraction = 0.5;
  const PasskeyBatch b = make_passkey_batch(o, *bpe, 21);
  for (int64_t r = 0; r < b.rows; ++r) {
    const int32_t* row = b.tokens.data() + r * b.seq_len;
    const float* w = b.loss_weights.data() + r * b.seq_len;
    const std::vector<int32_t> answer = bpe->encode(" " + b.keys[size_t(r)], false);
    // The answer's tokens sit where the answer weights are, after the prompt.
    std::vector<int64_t> answer_positions;
    for (int64_t t = 0; t + 1 < b.seq_len; ++t)
      if (w[t] == 4.f) answer_positions.push_back(t + 1);
    ASSERT_EQ(answer_positions.size(), answer.size());
    for (size_t i = 0; i < answer.size(); ++i) {
      EXPECT_EQ(answer_positions[i], answer_positions[0] + int64_t(i));
      EXPECT_EQ(row[answer_positions[i]], answer[i]);
    }
    EXPECT_GE(answer_positions.back(), b.seq_len - 3) << "prompt fills the row";
    // Zero weights inside the prompt: only the keys' first occurrences (a few tokens each).
    int64_t hidden = 0;
    for (int64_t t = 0; t + 1 < answer_positions[0]; ++t) hidden += w[t] == 0.f;
    const std::string text = bpe->decode(std::span<const int32_t>(row, size_t(b.seq_len)), true);
    const bool doors = text.find(" door") != std::string::npos;
    EXPECT_GE(hidden, doors ? 3 : 1);
    EXPECT_LE(hidden, (doors ? 3 : 1) * (o.key_digits + 2));
  }
}

TEST(PasskeyBatch, BadOptionsNameTheField) {
  const auto expect_error = [](PasskeyBatchOptions o, const std::string& field) {
    try {
      make_passkey_batch(o, bytes(), 1);
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  expect_error(batch_options(0, 600), "rows");
  expect_error(batch_options(2, 1), "seq_len");
  expect_error(batch_options(2, 200), "seq_len");  // shorter than instruction + needle
  PasskeyBatchOptions o = batch_options(2, 600);
  o.answer_weight = -1;
  expect_error(o, "answer_weight");
  o = batch_options(2, 600);
  o.text_weight = std::nan("");
  expect_error(o, "text_weight");
  o = batch_options(2, 600);
  o.needle_fraction = 1.5;
  expect_error(o, "needle_fraction");
  o = batch_options(2, 600);
  o.needles = 12;
  expect_error(o, "needles");
  o = batch_options(2, 600);
  o.key_digits = 0;
  expect_error(o, "key_digits");
}

}  // namespace
}  // namespace longctx::train
