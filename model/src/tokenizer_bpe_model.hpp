// The BPE model of tokenizer.json: a vocabulary (token -> id) and a ranked merge list. A word is
// split into characters (or <0xNN> byte tokens / the unknown token when a character is not in the
// vocabulary) and the adjacent pair of lowest merge rank is merged until no pair has a rank, which
// is `tokenizers`' algorithm (min-heap on (rank, position); ties go to the leftmost pair).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace longctx::model::hf {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;  // glued to every character but a word's first
  std::string end_of_word_suffix;         // glued to a word's last character
  bool fuse_unk = false;                  // consecutive unknown characters give one unk token
  bool byte_fallback = false;             // unknown characters become <0xNN> tokens
  bool ignore_merges = false;             // a word in the vocabulary is one token outright
};

class BpeModel {
 public:
  // `merges` in rank order (rank = index). Throws ArgumentError naming `where` + "model.merges[i]"
  // when a merge names a token, or makes one, that the vocabulary lacks, and `where` +
  // "model.unk_token" when the unknown token is not in it.
  // (The views need only outlive the constructor: a Llama 3 vocabulary has 280K merges, and
  // copying them into strings first would double the load time.)
  BpeModel(StringMap<int32_t> vocab,
           const std::vector<std::pair<std::string_view, std::string_view>>& merges,
           BpeOptions options, const std::string& where);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  const std::string* token_text(int32_t id) const;  // nullptr for ids without a token
  int64_t id_limit() const { return int64_t(tokens_by_id_.size()); }  // largest id + 1
  size_t size() const { return vocab_.size(); }
  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t result;
  };
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;

  StringMap<int32_t> vocab_;
  std::vector<std::string> tokens_by_id_;  // "" where no token has the id
  std::vector<uint8_t> has_id_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id
  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_token_id_{};  // <0xNN> ids, -1 where absent

  // word -> ids, filled lazily by tokenize(); encode() is const and may run on several threads.
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace longctx::model::hf
