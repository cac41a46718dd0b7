// Normalisation and pre-tokenisation of tokenizer.json pipelines (see tokenizer_pretokenizer.hpp).
#include "tokenizer_pretokenizer.hpp"

#include "tokenizer_byte_level.hpp"

namespace longctx::model::hf {
namespace {

// GPT-2's word pattern, which ByteLevel uses when use_regex is set.
const UnicodeRegex& gpt2_pattern() {
  static const UnicodeRegex pattern(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
      UnicodeRegex::Syntax::regex, "ByteLevel pre-tokenizer pattern");
  return pattern;
}

struct Span {
  size_t begin, end;
  bool is_match;
};

// The piece cut at the pattern's matches: alternating non-matching and matching spans covering
// it, `is_match` flipped when inverted.
std::vector<Span> cut(const UnicodeRegex& pattern, std::string_view piece, bool invert) {
  std::vector<Span> spans;
  size_t previous = 0;
  for (const auto& [begin, end] : pattern.find_all(piece)) {
    if (previous != begin) spans.push_back({previous, begin, invert});
    spans.push_back({begin, end, !invert});
    previous = end;
  }
  if (previous != piece.size()) spans.push_back({previous, piece.size(), invert});
  return spans;
}

// Applies a SplitBehavior: which spans stay, and which merge into a neighbour. The output spans'
// is_match is meaningless (all are words).
std::vector<Span> arrange(const std::vector<Span>& spans, SplitBehavior behavior) {
  std::vector<Span> out;
  out.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::isolated:
      return spans;
    case SplitBehavior::removed:
      for (const Span& s : spans)
        if (!s.is_match) out.push_back(s);
      return out;
    case SplitBehavior::merged_with_previous:
      // A match joins the word before it (unless that word is itself a match).
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.is_match;
      }
      return out;
    case SplitBehavior::merged_with_next:
      // Mirror image: walk from the right, a match joins the word after it.
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
    case SplitBehavior::contiguous:
      // Consecutive matches form one word.
      for (const Span& s : spans) {
        if (s.is_match && previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.is_match;
      }
      return out;
  }
  return out;
}

void split_into(const UnicodeRegex& pattern, SplitBehavior behavior, bool invert,
                std::string_view piece, std::vector<std::string>& out) {
  for (const Span& s : arrange(cut(pattern, piece, invert), behavior))
    if (s.end > s.begin) out.emplace_back(piece.substr(s.begin, s.end - s.begin));
}

}  // namespace

std::string Normalizer::apply(std::string_view s) const {
  std::string out(s);
  for (text::NormalForm form : forms) out = text::normalize(out, form);
  return out;
}

bool PreTokenizer::has_byte_level() const {
  for (const PreTokenizerStep& step : steps)
    if (std::holds_alternative<ByteLevelStep>(step)) return true;
  return false;
}

std::vector<std::string> PreTokenizer::run(std::string_view piece) const {
  std::vector<std::string> words;
  if (!piece.empty()) words.emplace_back(piece);
  for (const PreTokenizerStep& step : steps) {
    std::vector<std::string> next;
    next.reserve(words.size());
    if (const auto* split = std::get_if<SplitStep>(&step)) {
      for (const std::string& w : words)
        split_into(split->pattern, split->behavior, split->invert, w, next);
    } else {
      const auto& byte_step = std::get<ByteLevelStep>(step);
      for (std::string& w : words) {
        // `tokenizers` adds the prefix space to every piece present at this step, not only the
        // first piece of the text.
        if (byte_step.add_prefix_space && w.front() != ' ') w.insert(w.begin(), ' ');
        std::vector<std::string> parts;
        if (byte_step.use_regex) {
          split_into(gpt2_pattern(), SplitBehavior::isolated, false, w, parts);
        } else {
          parts.push_back(std::move(w));
        }
        for (const std::string& part : parts) next.push_back(byte_level::encode(part));
      }
    }
    words = std::move(next);
  }
  return words;
}

}  // namespace longctx::model::hf
