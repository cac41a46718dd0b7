// BPE word encoding (see tokenizer_bpe_model.hpp): vocabulary and merge table set-up, the
// per-word merge loop, and the word cache.
#include "tokenizer_bpe_model.hpp"

#include <cstdio>
#include <queue>

#include "longctx/core/error.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model::hf {
namespace {

constexpr size_t kCacheCapacity = 1 << 16;  // words; the cache is dropped whole when full
constexpr size_t kCachedWordBytes = 256;    // longer words are rare and not worth keeping

uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
  return out;
}

}  // namespace

BpeModel::BpeModel(StringMap<int32_t> vocab,
                   const std::vector<std::pair<std::string_view, std::string_view>>& merges,
                   BpeOptions options, const std::string& where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) max_id = std::max(max_id, id);
  tokens_by_id_.resize(size_t(max_id + 1));
  has_id_.assign(size_t(max_id + 1), 0);
  for (const auto& [token, id] : vocab_) {
    tokens_by_id_[size_t(id)] = token;
    has_id_[size_t(id)] = 1;
  }

  merges_.reserve(merges.size());
  const std::string_view prefix = options_.continuing_subword_prefix;
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = merges[rank];
    const auto left_id = token_id(left), right_id = token_id(right);
    // The merged token drops the right part's continuation prefix ("##"), as `tokenizers` does.
    merged.assign(left);
    merged.append(right.substr(0, prefix.size()) == prefix ? right.substr(prefix.size()) : right);
    const auto merged_id = token_id(merged);
    LONGCTX_CHECK_ARG(left_id && right_id && merged_id,
                      where + "model.merges[" + std::to_string(rank) + "]",
                      "two tokens of model.vocab whose concatenation is also in model.vocab",
                      quoted(left) << " + " << quoted(right) << " ("
                                   << (!left_id    ? quoted(left) + " is not in the vocabulary"
                                       : !right_id ? quoted(right) + " is not in the vocabulary"
                                                   : quoted(merged) + " is not in the vocabulary")
                                   << ")");
    // A repeated pair keeps its last rank: `tokenizers` builds its map by inserting in order.
    merges_.insert_or_assign(pair_key(*left_id, *right_id), Merge{uint32_t(rank), *merged_id});
  }

  if (options_.unk_token) {
    unk_id_ = token_id(*options_.unk_token);
    LONGCTX_CHECK_ARG(unk_id_.has_value(), where + "model.unk_token", "a token of model.vocab",
                      quoted(*options_.unk_token));
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_token_id_[size_t(b)] = token_id(name).value_or(-1);
  }
}

std::optional<int32_t> BpeModel::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token_text(int32_t id) const {
  if (id < 0 || id >= id_limit() || !has_id_[size_t(id)]) return nullptr;
  return &tokens_by_id_[size_t(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = token_id(word)) {
      ids.push_back(*id);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word_ids;
  merge_word(word, word_ids);
  ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  if (word.size() < kCachedWordBytes) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::string(word), std::move(word_ids));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& ids) const {
  // A doubly linked list over the initial symbols; merging absorbs the right symbol into the
  // left one and marks the right one dead (bytes == 0).
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t bytes;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id, size_t bytes) {
    const auto index = int32_t(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, uint32_t(bytes)});
  };

  // An unknown-token symbol not yet added: it may still absorb the next unknown characters.
  bool unk_pending = false;
  size_t unk_bytes = 0;
  std::string decorated;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = std::min(
        text::utf8_sequence_length(static_cast<unsigned char>(word[pos])), word.size() - pos);
    const std::string_view character = word.substr(pos, length);
    const bool first = pos == 0;
    pos += length;
    const bool last = pos >= word.size();
    std::string_view symbol = character;
    if ((!first && !options_.continuing_subword_prefix.empty()) ||
        (last && !options_.end_of_word_suffix.empty())) {
      decorated.assign(first ? "" : options_.continuing_subword_prefix);
      decorated.append(character);
      if (last) decorated.append(options_.end_of_word_suffix);
      symbol = decorated;
    }

    if (const auto id = token_id(symbol)) {
      if (unk_pending) add(*unk_id_, unk_bytes);
      unk_pending = false;
      add(*id, length);
      continue;
    }
    if (options_.byte_fallback) {
      bool all_bytes_known = true;
      for (char c : symbol) all_bytes_known &= byte_token_id_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes_known) {
        // As in `tokenizers`, a pending unk token is not flushed here: it lands after these bytes.
        for (char c : symbol) add(byte_token_id_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (unk_pending && options_.fuse_unk) {
        unk_bytes += length;
      } else {
        if (unk_pending) add(*unk_id_, unk_bytes);
        unk_pending = true;
        unk_bytes = length;
      }
    }
    // Without an unk token or byte fallback the character is dropped, like `tokenizers` does.
  }
  if (unk_pending) add(*unk_id_, unk_bytes);

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t result;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t left) {
    const int32_t right = symbols[size_t(left)].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[size_t(left)].id, symbols[size_t(right)].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.result});
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(top.pos)];
    // Stale entries: the left symbol was absorbed, is now last, or its pair changed since.
    if (left.bytes == 0 || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.result != top.result) continue;
    left.id = top.result;
    left.bytes += right.bytes;
    right.bytes = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[size_t(left.next)].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols)
    if (s.bytes > 0) ids.push_back(s.id);
}

}  // namespace longctx::model::hf
