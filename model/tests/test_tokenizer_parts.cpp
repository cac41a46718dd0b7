// The pieces of the tokenizer.json path on hand-made inputs whose answers follow from
// `tokenizers`' documented behaviour: BPE merge order and its options (byte fallback, unknown
// tokens, subword prefix/suffix, ignore_merges), Split behaviours, added-token options, templates,
// the GPT-2 pre-tokenizer, the Oniguruma-compatible regex, and the UTF-8 / byte-level helpers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "longctx/core/error.hpp"
#include "longctx/model/tokenizer.hpp"
#include "tokenizer_byte_level.hpp"
#include "tokenizer_pretokenizer.hpp"
#include "tokenizer_regex.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A tokenizer.json with a BPE model over `tokens` (id = position) and nothing else.
json bpe_json(const std::vector<std::string>& tokens, const json& merges,
              const json& model_options = json::object()) {
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  for (const auto& [key, value] : model_options.items()) model[key] = value;
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", model}};
}

std::unique_ptr<Tokenizer> load(const json& j) {
  const fs::path file = fs::temp_directory_path() /
                        ("longctx_tokenizer_parts_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(file);
    out << j.dump();
  }
  auto tok = load_hf_tokenizer_json(file);
  fs::remove(file);
  return tok;
}

// Ids of `words` in `tokens`.
std::vector<int32_t> ids(const std::vector<std::string>& tokens,
                         const std::vector<std::string>& words) {
  std::vector<int32_t> out;
  for (const std::string& w : words) {
    const auto it = std::find(tokens.begin(), tokens.end(), w);
    EXPECT_NE(it, tokens.end()) << w;
    out.push_back(int32_t(it - tokens.begin()));
  }
  return out;
}

TEST(BpeModel, MergesByRankNotByPosition) {
  const std::vector<std::string> tokens = {"a", "b", "c", "ab", "bc", "abc"};
  // (b, c) outranks (a, b) although it starts later; then (a, bc) has no merge.
  EXPECT_EQ(load(bpe_json(tokens, {"b c", "a b", "ab c"}))->encode("abc", false),
            ids(tokens, {"a", "bc"}));
  // The [left, right] form of merges, with the other order.
  EXPECT_EQ(load(bpe_json(tokens, json::array({json::array({"a", "b"}), json::array({"b", "c"}),
                                               json::array({"ab", "c"})})))
                ->encode("abc", false),
            ids(tokens, {"abc"}));
}

TEST(BpeModel, EqualRanksMergeLeftmostFirst) {
  const std::vector<std::string> tokens = {"a", "aa"};
  const auto tok = load(bpe_json(tokens, {"a a"}));
  EXPECT_EQ(tok->encode("aaa", false), ids(tokens, {"aa", "a"}));
  EXPECT_EQ(tok->encode("aaaaa", false), ids(tokens, {"aa", "aa", "a"}));
}

TEST(BpeModel, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // "abc" is in the vocabulary but no merge sequence reaches it.
  const std::vector<std::string> tokens = {"a", "b", "c", "ab", "abc"};
  EXPECT_EQ(load(bpe_json(tokens, {"a b"}))->encode("abc", false), ids(tokens, {"ab", "c"}));
  EXPECT_EQ(load(bpe_json(tokens, {"a b"}, {{"ignore_merges", true}}))->encode("abc", false),
            ids(tokens, {"abc"}));
}

TEST(BpeModel, UnknownCharactersByteFallbackUnkOrDropped) {
  const std::vector<std::string> tokens = {"a", "<unk>", "<0xC3>", "<0xA9>"};
  const std::string text = "a\u00e9\u00e9a";  // é = C3 A9
  EXPECT_EQ(load(bpe_json(tokens, json::array(), {{"byte_fallback", true}}))->encode(text, false),
            ids(tokens, {"a", "<0xC3>", "<0xA9>", "<0xC3>", "<0xA9>", "a"}));
  EXPECT_EQ(load(bpe_json(tokens, json::array()))->encode(text, false), ids(tokens, {"a", "a"}));
  EXPECT_EQ(load(bpe_json(tokens, json::array(), {{"unk_token", "<unk>"}}))->encode(text, false),
            ids(tokens, {"a", "<unk>", "<unk>", "a"}));
  EXPECT_EQ(load(bpe_json(tokens, json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}}))
                ->encode(text, false),
            ids(tokens, {"a", "<unk>", "a"}));
  // Byte fallback needs every byte's token; "ü" (C3 BC) lacks <0xBC>, so it is unknown.
  EXPECT_EQ(load(bpe_json(tokens, json::array(), {{"byte_fallback", true}, {"unk_token", "<unk>"}}))
                ->encode("\u00fca", false),
            ids(tokens, {"<unk>", "a"}));
}

TEST(BpeModel, SubwordPrefixAndWordSuffix) {
  // The merged token drops the right part's "##".
  const std::vector<std::string> prefixed = {"a", "##b", "ab"};
  EXPECT_EQ(load(bpe_json(prefixed, {"a ##b"}, {{"continuing_subword_prefix", "##"}}))
                ->encode("ab", false),
            ids(prefixed, {"ab"}));
  const std::vector<std::string> suffixed = {"a", "b</w>", "ab</w>", "a</w>"};
  const auto tok = load(bpe_json(suffixed, {"a b</w>"}, {{"end_of_word_suffix", "</w>"}}));
  EXPECT_EQ(tok->encode("ab", false), ids(suffixed, {"ab</w>"}));
  EXPECT_EQ(tok->encode("a", false), ids(suffixed, {"a</w>"}));
}

TEST(SplitPreTokenizer, BehavioursAsTokenizersDocumentsThem) {
  // With ignore_merges every word in the vocabulary is one id, so the ids show the words.
  const std::vector<std::string> tokens = {
      "t", "h", "e", "-",   "f",     "i",         "n",    "a",      "l",      "c",  "o",
      "u", "w", "d", "the", "final", "countdown", "the-", "final-", "-final", "--", "-countdown"};
  auto words = [&](const std::string& behavior) {
    json j = bpe_json(tokens, json::array(), {{"ignore_merges", true}});
    j["pre_tokenizer"] = {{"type", "Split"},
                          {"pattern", {{"String", "-"}}},
                          {"behavior", behavior},
                          {"invert", false}};
    return load(j)->encode("the-final--countdown", false);
  };
  EXPECT_EQ(words("Removed"), ids(tokens, {"the", "final", "countdown"}));
  EXPECT_EQ(words("Isolated"), ids(tokens, {"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(words("MergedWithPrevious"), ids(tokens, {"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(words("MergedWithNext"), ids(tokens, {"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(words("Contiguous"), ids(tokens, {"the", "-", "final", "--", "countdown"}));

  // invert: the regex matches the words, so Removed drops what lies between them.
  json j = bpe_json(tokens, json::array(), {{"ignore_merges", true}});
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", "[a-z]+"}}},
                           {"behavior", "Removed"},
                           {"invert", true}}}}};
  EXPECT_EQ(load(j)->encode("the--final", false), ids(tokens, {"the", "final"}));
}

TEST(AddedTokens, StripSingleWordNormalizedAndSpecial) {
  const std::vector<std::string> tokens = {"a", "b", " ", "<", "m", "s", "k", ">"};
  const int32_t mask = int32_t(tokens.size());
  auto with_mask = [&](json options) {
    json j = bpe_json(tokens, json::array());
    json token = {{"id", mask},          {"content", "<mask>"}, {"special", true},
                  {"normalized", false}, {"lstrip", false},     {"rstrip", false},
                  {"single_word", false}};
    for (const auto& [key, value] : options.items()) token[key] = value;
    j["added_tokens"] = json::array({token});
    j["normalizer"] = {{"type", "NFKC"}};
    return load(j);
  };
  auto plain = [&](std::vector<std::string> words, std::vector<size_t> mask_at) {
    std::vector<int32_t> out = ids(tokens, words);
    for (size_t at : mask_at) out.insert(out.begin() + long(at), mask);
    return out;
  };
  EXPECT_EQ(with_mask(json::object())->encode("a <mask> b", false),
            plain({"a", " ", " ", "b"}, {2}));
  EXPECT_EQ(with_mask({{"lstrip", true}, {"rstrip", true}})->encode("a  <mask> b", false),
            plain({"a", "b"}, {1}));
  EXPECT_EQ(with_mask({{"single_word", true}})->encode("a<mask> <mask>", false),
            plain({"a", "<", "m", "a", "s", "k", ">", " "}, {8}));
  // Fullwidth < > become < > under NFKC: only a normalized token sees them as "<mask>".
  const std::string fullwidth = "\uff1cmask\uff1e";
  EXPECT_EQ(with_mask(json::object())->encode(fullwidth, false),
            ids(tokens, {"<", "m", "a", "s", "k", ">"}));
  EXPECT_EQ(with_mask({{"normalized", true}})->encode(fullwidth, false), plain({}, {0}));

  // No decoder: tokens are joined with spaces; special tokens can be skipped.
  const auto tok = with_mask(json::object());
  const std::vector<int32_t> a_mask_b = {0, mask, 1};
  EXPECT_EQ(tok->decode(a_mask_b, false), "a <mask> b");
  EXPECT_EQ(tok->decode(a_mask_b, true), "a b");
  EXPECT_EQ(tok->vocab_size(), mask + 1);
}

TEST(PostProcessor, TemplateAroundTheSequence) {
  const std::vector<std::string> tokens = {"a", "<s>", "</s>"};
  json j = bpe_json(tokens, json::array());
  const json specials = {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}},
                         {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}};
  j["post_processor"] = {{"type", "Sequence"},
                         {"processors",
                          {{{"type", "ByteLevel"}, {"trim_offsets", false}},
                           {{"type", "TemplateProcessing"},
                            {"single",
                             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
                            {"special_tokens", specials}}}}};
  const auto tok = load(j);
  EXPECT_EQ(tok->encode("aa", true), (std::vector<int32_t>{1, 0, 0, 2}));
  EXPECT_EQ(tok->encode("aa", false), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(tok->bos_id(), std::optional<int32_t>(1));
  // The constructor's string form of the same template.
  j["post_processor"] = {
      {"type", "TemplateProcessing"}, {"single", "<s> $A </s>:1"}, {"special_tokens", specials}};
  EXPECT_EQ(load(j)->encode("a", true), (std::vector<int32_t>{1, 0, 2}));
  j["post_processor"]["single"] = "<s> $B";
  EXPECT_THROW(load(j), ArgumentError);
}

TEST(ByteLevelPreTokenizer, Gpt2WordsAndPrefixSpace) {
  hf::PreTokenizer gpt2;
  gpt2.steps.emplace_back(hf::ByteLevelStep{false, true});
  EXPECT_EQ(gpt2.run("Hello there       dear"),
            (std::vector<std::string>{"Hello", "\u0120there",
                                      "\u0120\u0120\u0120\u0120\u0120\u0120", "\u0120dear"}));
  EXPECT_EQ(gpt2.run("I'll x\n"), (std::vector<std::string>{"I", "'ll", "\u0120x", "\u010a"}));
  hf::PreTokenizer prefixed;
  prefixed.steps.emplace_back(hf::ByteLevelStep{true, true});
  EXPECT_EQ(prefixed.run("Hello my"), (std::vector<std::string>{"\u0120Hello", "\u0120my"}));
  EXPECT_EQ(prefixed.run(" Hello"), (std::vector<std::string>{"\u0120Hello"}));
}

TEST(UnicodeRegex, OnigurumaSpacesAndEmptyMatches) {
  using Matches = std::vector<std::pair<size_t, size_t>>;
  const UnicodeRegex space("\\s+", UnicodeRegex::Syntax::regex, "test");
  EXPECT_EQ(space.find_all("a\u0085b"), (Matches{{1, 3}}));  // NEL is \s in Oniguruma
  const UnicodeRegex not_space("[^\\s]+|\\S", UnicodeRegex::Syntax::regex, "test");
  EXPECT_EQ(not_space.find_all("\u0085"), Matches{});
  EXPECT_EQ(with_oniguruma_spaces("[^\\s\\p{L}]\\s+(?!\\S)\\\\s[]s]"),
            "[^\\s\\x{85}\\p{L}][\\s\\x{85}]+(?![^\\s\\x{85}])\\\\s[]s]");
  EXPECT_EQ(with_oniguruma_spaces("[[:alpha:]\\s]\\s"), "[[:alpha:]\\s\\x{85}][\\s\\x{85}]");
  // Empty matches are reported, except one touching the previous match.
  const UnicodeRegex maybe_x("x*", UnicodeRegex::Syntax::regex, "test");
  EXPECT_EQ(maybe_x.find_all("ab"), (Matches{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(maybe_x.find_all("xa"), (Matches{{0, 1}, {2, 2}}));
  const UnicodeRegex literal("a.", UnicodeRegex::Syntax::literal, "test");
  EXPECT_EQ(literal.find_all("abca.a."), (Matches{{3, 5}, {5, 7}}));
  EXPECT_THROW(UnicodeRegex("(?<", UnicodeRegex::Syntax::regex, "test"), ArgumentError);
}

TEST(Utf8, LossyDecodingReplacesMaximalSubparts) {
  EXPECT_EQ(text::utf8_lossy("plain é 🙂"), "plain é 🙂");
  EXPECT_EQ(text::utf8_lossy("Hello \xF0\x90\x80World"), "Hello \uFFFDWorld");  // truncated
  EXPECT_EQ(text::utf8_lossy("\xC0\x80"), "\uFFFD\uFFFD");                      // overlong lead
  EXPECT_EQ(text::utf8_lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");            // surrogate
  EXPECT_EQ(text::utf8_lossy("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF
  EXPECT_EQ(text::utf8_lossy("\xE2\x82"), "\uFFFD");
  EXPECT_EQ(text::utf8_lossy("a\xFF"), "a\uFFFD");
  EXPECT_EQ(text::find_invalid_utf8("ok\xE2\x82\xAC!"), std::nullopt);
  EXPECT_EQ(text::find_invalid_utf8("ok\xE2\x82!"), std::optional<size_t>(2));
}

TEST(Utf8, NormalFormsAndCharacterClasses) {
  using text::NormalForm;
  EXPECT_EQ(text::normalize("e\u0301", NormalForm::nfc), "\u00e9");
  EXPECT_EQ(text::normalize("\u00e9", NormalForm::nfd), "e\u0301");
  EXPECT_EQ(text::normalize("\ufb01", NormalForm::nfkc), "fi");
  EXPECT_EQ(text::normalize(std::string("a\0b", 3), NormalForm::nfc), std::string("a\0b", 3));
  EXPECT_TRUE(text::is_white_space(0x85));
  EXPECT_TRUE(text::is_white_space(0x3000));
  EXPECT_FALSE(text::is_white_space(0x200B));
  EXPECT_TRUE(text::is_word_char(U'é'));
  EXPECT_TRUE(text::is_word_char(0x0301));  // combining marks count as word characters
  EXPECT_TRUE(text::is_word_char(U'_'));
  EXPECT_FALSE(text::is_word_char(U'-'));
}

TEST(ByteLevelAlphabet, MapsEveryByteToOneVisibleSymbolAndBack) {
  EXPECT_EQ(byte_level::encode(" \n!\xFF"), "\u0120\u010a!\u00ff");
  std::string all(256, '\0');
  for (int b = 0; b < 256; ++b) all[size_t(b)] = char(b);
  std::string back;
  ASSERT_TRUE(byte_level::decode_into(byte_level::encode(all), back));
  EXPECT_EQ(back, all);
  std::string untouched = "x";
  EXPECT_FALSE(byte_level::decode_into("a\u4e00", untouched));  // U+4E00 is no byte symbol
  EXPECT_EQ(untouched, "x");
}

}  // namespace
}  // namespace longctx::model
