// Leftmost-longest search for added tokens with their single_word / lstrip / rstrip options (see
// tokenizer_added_tokens.hpp). A bucket per first byte replaces `tokenizers`' Aho-Corasick
// automaton: vocabularies add at most a few hundred tokens, nearly all starting with '<'.
#include "tokenizer_added_tokens.hpp"

#include <algorithm>

#include "tokenizer_text.hpp"

namespace longctx::model::hf {
namespace {

// The code point that ends text[0, pos) (valid UTF-8, pos > 0).
char32_t code_point_before(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return text::next_code_point(text, start);
}

// Start of the whitespace run that ends at `pos`.
size_t whitespace_run_start(std::string_view text, size_t pos) {
  while (pos > 0) {
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t probe = start;
    if (!text::is_white_space(text::next_code_point(text, probe))) break;
    pos = start;
  }
  return pos;
}

// End of the whitespace run that starts at `pos`.
size_t whitespace_run_end(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    size_t next = pos;
    if (!text::is_white_space(text::next_code_point(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedTokenMatcher::add(std::string pattern, const AddedToken& token) {
  if (pattern.empty()) return;  // `tokenizers` ignores empty added tokens too
  const auto first = static_cast<unsigned char>(pattern[0]);
  patterns_.push_back({std::move(pattern), token});
  auto& bucket = by_first_byte_[first];
  bucket.push_back(uint32_t(patterns_.size() - 1));
  // Longest first; among equals the earlier-added token wins, as in `tokenizers`.
  std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
    return patterns_[a].text.size() > patterns_[b].text.size();
  });
}

std::vector<TextSegment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t covered = 0;  // text[0, covered) is in `segments`
  size_t pos = 0;
  while (pos < text.size()) {
    const Pattern* hit = nullptr;
    for (uint32_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const Pattern& p = patterns_[index];
      if (text.compare(pos, p.text.size(), p.text) == 0) {
        hit = &p;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;  // patterns are valid UTF-8, so they cannot match from a continuation byte
      continue;
    }
    size_t begin = pos, end = pos + hit->text.size();
    const AddedToken& token = hit->token;
    if (token.single_word) {
      const bool word_before = begin > 0 && text::is_word_char(code_point_before(text, begin));
      size_t probe = end;
      const bool word_after =
          end < text.size() && text::is_word_char(text::next_code_point(text, probe));
      if (word_before || word_after) {
        pos = end;  // the matcher moves past a discarded match, it does not retry inside it
        continue;
      }
    }
    if (token.lstrip) begin = std::max(whitespace_run_start(text, begin), covered);
    if (token.rstrip) end = whitespace_run_end(text, end);
    if (covered < begin) segments.push_back({covered, begin, -1});
    segments.push_back({begin, end, token.id});
    covered = pos = end;
  }
  if (covered < text.size()) segments.push_back({covered, text.size(), -1});
  return segments;
}

}  // namespace longctx::model::hf
