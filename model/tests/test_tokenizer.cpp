// Tokenizers against the real libraries: every sample text of the fixtures (manifest.json, made
// by make_fixtures.py with `tokenizers` and `sentencepiece`) must encode, with and without special
// tokens, and decode exactly as they did. Also: lossless round trips of random text, the byte
// tokenizer, which tokenizer load_tokenizer() picks, and the errors for bad files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "fixture_models.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/tokenizer.hpp"
#include "test_util.hpp"
#include "tokenizer_byte_level.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::fixtures_dir;

const json& tokenizer_manifest() {
  static const json m = testing::manifest()["tokenizers"];
  return m;
}

fs::path tokenizer_dir(const std::string& name) {
  return fixtures_dir() / tokenizer_manifest()[name]["dir"].get<std::string>();
}

std::vector<int32_t> ids_of(const json& j) {
  return j.get<std::vector<int32_t>>();
}

// A fresh directory under the system temp dir for files a test writes.
fs::path scratch_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("longctx_tokenizer_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary);
  out << content;
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

// Runs `load` and checks that it throws ArgumentError whose argument and message contain the
// given parts.
template <typename Load>
void expect_argument_error(Load load, const std::string& argument_part,
                           const std::string& message_part) {
  try {
    load();
    ADD_FAILURE() << "expected ArgumentError naming " << argument_part;
  } catch (const ArgumentError& e) {
    EXPECT_NE(e.argument().find(argument_part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos) << e.what();
  }
}

class TokenizerJsonFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerJsonFixture, MatchesTokenizersOnEverySample) {
  const std::string name = GetParam();
  const json& entry = tokenizer_manifest()[name];
  const auto tok = load_hf_tokenizer_json(tokenizer_dir(name) / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), entry["vocab_size"].get<int64_t>());
  int matched = 0, cases = 0;
  for (const json& c : entry["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE(name + " text \"" + text + "\"");
    const auto with_special = tok->encode(text, true);
    const auto without = tok->encode(text, false);
    const std::string decoded = tok->decode(without, false);
    EXPECT_EQ(with_special, ids_of(c["ids"]));
    EXPECT_EQ(without, ids_of(c["ids_no_special"]));
    EXPECT_EQ(decoded, c["decoded"].get<std::string>());
    matched += with_special == ids_of(c["ids"]) && without == ids_of(c["ids_no_special"]) &&
               decoded == c["decoded"].get<std::string>();
    ++cases;
  }
  EXPECT_EQ(matched, cases);
  std::printf("[          ] %s: %d of %d cases match tokenizers %s\n", name.c_str(), matched, cases,
              testing::manifest()["versions"]["tokenizers"].get<std::string>().c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerJsonFixture,
                         ::testing::Values("gpt2", "llama3", "qwen2"));

class SentencePieceFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(SentencePieceFixture, MatchesSentencePieceOnEverySample) {
  const std::string name = GetParam();
  const json& entry = tokenizer_manifest()[name];
  const auto tok = load_sentencepiece(tokenizer_dir(name) / "tokenizer.model");
  EXPECT_EQ(tok->vocab_size(), entry["vocab_size"].get<int64_t>());
  ASSERT_EQ(tok->bos_id(), std::optional<int32_t>(1));  // make_fixtures.py: bos_id=1
  int matched = 0, cases = 0;
  for (const json& c : entry["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE(name + " text \"" + text + "\"");
    const auto without = tok->encode(text, false);
    std::vector<int32_t> expected_with = {1};
    for (int32_t id : ids_of(c["ids_no_special"])) expected_with.push_back(id);
    const std::string decoded = tok->decode(without, false);
    EXPECT_EQ(without, ids_of(c["ids_no_special"]));
    EXPECT_EQ(tok->encode(text, true), expected_with);
    EXPECT_EQ(decoded, c["decoded"].get<std::string>());
    // BOS is a control piece: it decodes to nothing with or without skipping specials.
    EXPECT_EQ(tok->decode(expected_with, true), c["decoded"].get<std::string>());
    matched += without == ids_of(c["ids_no_special"]) && decoded == c["decoded"].get<std::string>();
    ++cases;
  }
  EXPECT_EQ(matched, cases);
  std::printf("[          ] %s: %d of %d cases match sentencepiece\n", name.c_str(), matched,
              cases);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SentencePieceFixture, ::testing::Values("sp_bpe", "sp_unigram"));

// Random text from pieces that exercise the pre-tokenizers: letters, digits, runs of spaces and
// newlines, contractions, accents both composed and decomposed, CJK, emoji, U+0085, specials.
std::string random_text(std::mt19937& rng, int pieces) {
  static const std::vector<std::string> alphabet = {"a",       "Z",      "q",
                                                    "the",     "pass",   "7",
                                                    "12345",   " ",      "  ",
                                                    "\t",      "\n",     "\r\n",
                                                    "'s",      "'LL",    "'",
                                                    ".",       ",",      "!?",
                                                    "-",       "_",      "é",
                                                    "e\u0301", "Ü",      "日本",
                                                    "語",      "🙂",   "🚀",
                                                    "\u0085",  "\u00a0", "\u3000",
                                                    "<|",      "|>",     "<|endoftext|>",
                                                    "ß",       "Σ",      "\x7f",
                                                    "~"};
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::string s;
  for (int i = 0; i < pieces; ++i) s += alphabet[pick(rng)];
  return s;
}

TEST(TokenizerJson, RoundTripsRandomTextLosslessly) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int trials = test::small_sizes() ? 40 : 200;
  for (const std::string name : {"gpt2", "llama3", "qwen2"}) {
    const auto tok = load_hf_tokenizer_json(tokenizer_dir(name) / "tokenizer.json");
    for (int t = 0; t < trials; ++t) {
      const std::string text = random_text(rng, 1 + t % 40);
      // Byte-level BPE loses nothing; Qwen2's NFC normaliser composes "e\u0301".
      const std::string expected =
          name == "qwen2" ? text::normalize(text, text::NormalForm::nfc) : text;
      ASSERT_EQ(tok->decode(tok->encode(text, false), false), expected)
          << name << " text \"" << text << "\"";
    }
  }
}

TEST(TokenizerJson, HandlesLongRunsOfOneCharacterClass) {
  // Long whitespace runs make `\s+(?!\S)` backtrack; long words make long BPE merge loops.
  const size_t n = test::small_sizes() ? 5000 : 100000;
  const auto tok = load_hf_tokenizer_json(tokenizer_dir("gpt2") / "tokenizer.json");
  for (const std::string& text : {std::string(n, ' ') + "x", std::string(n, 'a'),
                                  std::string(n, '\n') + " y", std::string(n, '7')}) {
    EXPECT_EQ(tok->decode(tok->encode(text, false), false), text);
  }
}

TEST(TokenizerJson, SpecialTokensBosAndSkipping) {
  const auto gpt2 = load_hf_tokenizer_json(tokenizer_dir("gpt2") / "tokenizer.json");
  const auto llama3 = load_hf_tokenizer_json(tokenizer_dir("llama3") / "tokenizer.json");
  EXPECT_EQ(gpt2->bos_id(), std::nullopt);
  EXPECT_EQ(llama3->bos_id(), std::optional<int32_t>(0));  // <|begin_of_text|>
  EXPECT_NE(llama3->describe().find("byte-level BPE (tokenizer.json, 661 tokens"),
            std::string::npos)
      << llama3->describe();

  const std::string text = "hi<|endoftext|>there";
  const auto ids = gpt2->encode(text, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 1);  // <|endoftext|> is id 0, never split
  EXPECT_EQ(gpt2->decode(ids, false), text);
  EXPECT_EQ(gpt2->decode(ids, true), "hithere");
  // With specials the template only prepends BOS; skipping it restores the text.
  EXPECT_EQ(llama3->decode(llama3->encode("Hello world", true), true), "Hello world");
}

TEST(TokenizerJson, DecodeKeepsInvalidUtf8AsReplacementCharacters) {
  const fs::path file = tokenizer_dir("gpt2") / "tokenizer.json";
  const auto tok = load_hf_tokenizer_json(file);
  // The single-byte tokens of "€" (E2 82 AC), from the vocabulary of byte symbols.
  const json vocab = read_json(file)["model"]["vocab"];
  std::vector<int32_t> euro;
  for (unsigned char b : std::string("\u20ac"))
    euro.push_back(vocab[byte_level::encode(std::string(1, char(b)))].get<int32_t>());
  EXPECT_EQ(tok->decode(euro, false), "\u20ac");
  EXPECT_EQ(tok->decode({euro.data(), 1}, false), "\uFFFD");
  EXPECT_EQ(tok->decode({euro.data(), 2}, false), "\uFFFD");  // one maximal subpart
  EXPECT_EQ(tok->decode(std::vector<int32_t>{euro[1], euro[0]}, false), "\uFFFD\uFFFD");
  const std::vector<int32_t> ids = {euro[0], euro[1], euro[2]};
  // Ids without a token (a model's padded vocabulary) are skipped; negative ids are an error.
  EXPECT_EQ(tok->decode(std::vector<int32_t>{ids[0], 100000, ids[1], ids[2]}, false), "\u20ac");
  EXPECT_THROW(tok->decode(std::vector<int32_t>{-1}, false), ArgumentError);
  // encode() takes UTF-8 only.
  expect_argument_error([&] { tok->encode("a\xff", false); }, "text", "byte 1");
}

TEST(TokenizerJson, EncodesConcurrently) {
  const auto tok = load_hf_tokenizer_json(tokenizer_dir("qwen2") / "tokenizer.json");
  std::mt19937 rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) texts.push_back(random_text(rng, 30));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok->encode(t, true));
  auto check = [&](int* mismatches) {
    for (int rep = 0; rep < 3; ++rep)
      for (size_t i = 0; i < texts.size(); ++i)
        *mismatches += tok->encode(texts[i], true) != expected[i];
  };
  int a = 0, b = 0;
  std::thread other(check, &a);
  check(&b);
  other.join();
  EXPECT_EQ(a + b, 0);
}

TEST(ByteTokenizer, RoundTripsBytesAndReadsThemAsUtf8) {
  const auto tok = make_byte_tokenizer();
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_EQ(tok->bos_id(), std::nullopt);
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int t = 0; t < 100; ++t) {
    std::string bytes(size_t(t * 3 + 1), '\0');
    for (char& c : bytes) c = char(byte(rng));
    const auto ids = tok->encode(bytes, true);
    ASSERT_EQ(ids.size(), bytes.size());
    for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], static_cast<unsigned char>(bytes[i]));
    EXPECT_EQ(tok->decode(ids, false), text::utf8_lossy(bytes));
    const std::string utf8 = random_text(rng, t % 20 + 1);
    EXPECT_EQ(tok->decode(tok->encode(utf8, false), true), utf8);
  }
  EXPECT_EQ(tok->decode(std::vector<int32_t>{'o', 'k', 0xE2, 0x82}, false), "ok\uFFFD");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{'a', 300, 'b'}, false), "ab");  // no byte: skipped
  EXPECT_THROW(tok->decode(std::vector<int32_t>{-3}, false), ArgumentError);
}

TEST(LoadTokenizer, PicksJsonThenSentencePieceThenBytes) {
  EXPECT_NE(load_tokenizer(tokenizer_dir("llama3"))->describe().find("tokenizer.json"),
            std::string::npos);
  EXPECT_NE(load_tokenizer(tokenizer_dir("sp_unigram"))->describe().find("SentencePiece"),
            std::string::npos);
  const fs::path empty = scratch_dir("empty");
  EXPECT_EQ(load_tokenizer(empty)->describe(), make_byte_tokenizer()->describe());

  const fs::path both = scratch_dir("both");
  fs::copy_file(tokenizer_dir("qwen2") / "tokenizer.json", both / "tokenizer.json");
  fs::copy_file(tokenizer_dir("sp_bpe") / "tokenizer.model", both / "tokenizer.model");
  EXPECT_EQ(load_tokenizer(both)->vocab_size(),
            tokenizer_manifest()["qwen2"]["vocab_size"].get<int64_t>());

  // A tokenizer.json in a form longctx does not run yields to the tokenizer.model beside it
  // (Llama 2 and Mistral ship both) and is an error without one.
  json metaspace = read_json(tokenizer_dir("gpt2") / "tokenizer.json");
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}};
  write_file(both / "tokenizer.json", metaspace.dump());
  EXPECT_NE(load_tokenizer(both)->describe().find("SentencePiece"), std::string::npos);
  fs::remove(both / "tokenizer.model");
  expect_argument_error([&] { load_tokenizer(both); }, "pre_tokenizer.type", "Metaspace");

  expect_argument_error([&] { load_tokenizer(empty / "missing"); }, "model_dir", "not a directory");
  fs::remove_all(empty);
  fs::remove_all(both);
}

TEST(LoadTokenizer, MalformedTokenizerJsonNamesTheComponent) {
  const fs::path dir = scratch_dir("malformed");
  const json good = read_json(tokenizer_dir("gpt2") / "tokenizer.json");
  auto load_edited = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    write_file(dir / "tokenizer.json", j.dump());
    return load_hf_tokenizer_json(dir / "tokenizer.json");
  };
  expect_argument_error([&] { load_edited([](json& j) { j["model"]["type"] = "WordPiece"; }); },
                        "model.type", "BPE");
  expect_argument_error([&] { load_edited([](json& j) { j["model"].erase("vocab"); }); },
                        "model.vocab", "missing");
  expect_argument_error([&] { load_edited([](json& j) { j["model"].erase("merges"); }); },
                        "model.merges", "missing");
  expect_argument_error(
      [&] { load_edited([](json& j) {
              j["model"]["merges"][3] = json::array({"Ġ", "nope"});
            }); },
      "model.merges[3]", "\"nope\" is not in the vocabulary");
  expect_argument_error([&] { load_edited([](json& j) { j["model"]["merges"][0] = "a"; }); },
                        "model.merges[0]", "one space");
  expect_argument_error([&] { load_edited([](json& j) { j["model"]["vocab"]["!"] = -4; }); },
                        "model.vocab[\"!\"]", "token id");
  expect_argument_error(
      [&] { load_edited([](json& j) {
              j["normalizer"] = {{"type", "Lowercase"}};
            }); },
      "normalizer.type", "NFC");
  expect_argument_error(
      [&] { load_edited([](json& j) {
              j["decoder"] = {{"type", "WordPiece"}};
            }); }, "decoder.type",
      "ByteLevel");
  expect_argument_error(
      [&] {
        load_edited([](json& j) {
          j["pre_tokenizer"] = {{"type", "Split"},
                                {"pattern", {{"Regex", "(unclosed"}}},
                                {"behavior", "Isolated"},
                                {"invert", false}};
        });
      },
      "pre_tokenizer.pattern.Regex", "(unclosed");
  expect_argument_error(
      [&] { load_edited([](json& j) {
              j["post_processor"] = {{"type", "BertProcessing"}};
            }); },
      "post_processor.type", "TemplateProcessing");

  write_file(dir / "tokenizer.json", "{\"model\": ");
  expect_argument_error([&] { load_hf_tokenizer_json(dir / "tokenizer.json"); }, "tokenizer.json",
                        "valid JSON");
  expect_argument_error([&] { load_hf_tokenizer_json(dir / "absent.json"); }, "file",
                        "no such file");
  expect_argument_error([&] { load_sentencepiece(dir / "absent.model"); }, "file", "no such file");
  write_file(dir / "tokenizer.model", "not a protobuf");
  expect_argument_error([&] { load_sentencepiece(dir / "tokenizer.model"); }, "file",
                        "SentencePiece");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace longctx::model
