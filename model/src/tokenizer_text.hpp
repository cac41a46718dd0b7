// UTF-8 and Unicode helpers shared by the tokenizers: validation, the lossy decoding that
// `tokenizers` applies when ids decode to invalid UTF-8 (Rust's String::from_utf8_lossy), the
// Unicode normal forms (utf8proc) and the character classes Rust's `regex` uses for \s and \w.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace longctx::model::text {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlongs,
// surrogates and code points above U+10FFFF are ill-formed), or nullopt when `bytes` is valid.
std::optional<size_t> find_invalid_utf8(std::string_view bytes);

// Throws ArgumentError naming `argument` when `bytes` is not valid UTF-8.
void check_utf8(std::string_view bytes, std::string_view argument);

// Valid UTF-8 for any bytes: each maximal ill-formed subsequence becomes one U+FFFD, the
// "substitution of maximal subparts" practice Rust's from_utf8_lossy follows.
std::string utf8_lossy(std::string_view bytes);

// Length of the sequence a lead byte starts (1 for ASCII and for stray bytes).
inline size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it.
char32_t next_code_point(std::string_view valid_utf8, size_t& pos);

void append_utf8(std::string& out, char32_t code_point);

// Unicode White_Space (what Rust's char::is_whitespace and `regex`'s \s match).
bool is_white_space(char32_t c);
// `regex`'s \w: Alphabetic, marks, decimal digits, connector punctuation, joiners.
bool is_word_char(char32_t c);

enum class NormalForm : uint8_t { nfc, nfd, nfkc, nfkd };
// Normalises valid UTF-8 (embedded NULs allowed) with utf8proc.
std::string normalize(std::string_view valid_utf8, NormalForm form);

}  // namespace longctx::model::text
