// tokenizer.json's added tokens (specials such as "<|begin_of_text|>" and user-added words) and
// how `tokenizers` finds them: in the text before the model sees it, leftmost-longest first, so
// that they are never split. Tokens with normalized=false are looked for in the raw text, the
// others in the normalised pieces between those (two matchers, as `tokenizers` keeps).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::model::hf {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;  // only where no word character touches it on either side
  bool lstrip = false;       // swallows the whitespace on its left
  bool rstrip = false;       // swallows the whitespace on its right
  bool normalized = false;   // matched in the normalised text (content normalised too)
  bool special = false;      // dropped by decode(skip_special_tokens=true)
};

// A run of the input: either plain text [begin, end) or one added token spanning it.
struct TextSegment {
  size_t begin = 0, end = 0;
  int32_t token_id = -1;  // -1: plain text for the normaliser, pre-tokenizer and model
};

class AddedTokenMatcher {
 public:
  // Looks for `pattern` (the token's content, normalised when token.normalized).
  void add(std::string pattern, const AddedToken& token);
  bool empty() const { return patterns_.empty(); }

  // Covers all of `text` (valid UTF-8) with segments in order; empty text gives none.
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  struct Pattern {
    std::string text;
    AddedToken token;
  };
  std::vector<Pattern> patterns_;
  // Candidate patterns by first byte, longest first, so the first hit is the longest.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace longctx::model::hf
