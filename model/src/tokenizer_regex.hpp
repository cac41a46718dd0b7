// A compiled Unicode regular expression (PCRE2, UTF + UCP, JIT when available) with the
// find-all semantics `tokenizers` gets from Oniguruma: leftmost matches, left to right, an empty
// match right after the previous match skipped. Used by the Split and ByteLevel pre-tokenizers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace longctx::model {

class UnicodeRegex {
 public:
  enum class Syntax { regex, literal };
  // Oniguruma's \s includes U+0085 where PCRE2's does not; the pattern is rewritten so that
  // both agree. `argument` names the pattern's place in errors ("pre_tokenizer.pattern.Regex").
  UnicodeRegex(std::string_view pattern, Syntax syntax, std::string_view argument);

  // [begin, end) byte ranges of the matches in valid UTF-8 `subject`, in order.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view subject) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

// Oniguruma-compatible \s / \S for PCRE2 (exposed for the tests).
std::string with_oniguruma_spaces(std::string_view pattern);

}  // namespace longctx::model
