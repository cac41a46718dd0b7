// tokenizer.json's normalizer and pre-tokenizer stages, as `tokenizers` runs them on each piece of
// text between added tokens: normal forms (NFC, NFD, NFKC, NFKD), then pre-tokenizer steps that
// split pieces into words (Split with a regex or a literal, ByteLevel's GPT-2 regex) and map bytes
// to the byte-level alphabet (ByteLevel). Sequences are flattened: every step acts on all pieces.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tokenizer_regex.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model::hf {

struct Normalizer {
  std::vector<text::NormalForm> forms;  // applied in order; empty: the text is left as it is
  std::string apply(std::string_view valid_utf8) const;
};

// What Split does with the pattern's matches (`tokenizers`' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct SplitStep {
  UnicodeRegex pattern;
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;  // the pattern matches the words rather than the delimiters
};

struct ByteLevelStep {
  bool add_prefix_space = false;  // a space before each piece that does not start with one
  bool use_regex = true;          // split with GPT-2's pattern before mapping the bytes
};

using PreTokenizerStep = std::variant<SplitStep, ByteLevelStep>;

struct PreTokenizer {
  std::vector<PreTokenizerStep> steps;
  // The words of one normalised piece, in order, none empty.
  std::vector<std::string> run(std::string_view piece) const;
  bool has_byte_level() const;
};

}  // namespace longctx::model::hf
