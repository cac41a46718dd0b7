// UTF-8 validation and lossy decoding, Unicode normalisation and character classes for the
// tokenizers (see tokenizer_text.hpp).
#include "tokenizer_text.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

#include "longctx/core/error.hpp"

namespace longctx::model::text {
namespace {

struct SequenceCheck {
  size_t valid = 0;       // length of the well-formed sequence at the position, 0 if none
  size_t ill_formed = 0;  // else the length of its maximal ill-formed subpart (>= 1)
};

bool in(unsigned char b, unsigned char lo, unsigned char hi) {
  return b >= lo && b <= hi;
}

// Unicode Table 3-7 (well-formed UTF-8 byte sequences): the second byte's range depends on the
// lead byte, which is how overlongs, surrogates and values above U+10FFFF are excluded.
SequenceCheck check_sequence(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, 0};
  size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (in(b0, 0xC2, 0xDF)) {
    length = 2;
  } else if (in(b0, 0xE0, 0xEF)) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (in(b0, 0xF0, 0xF4)) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, 1};
  }
  for (size_t k = 1; k < length; ++k) {
    if (i + k >= s.size()) return {0, k};  // truncated: the prefix so far is one subpart
    const auto b = static_cast<unsigned char>(s[i + k]);
    const bool ok = k == 1 ? in(b, lo, hi) : in(b, 0x80, 0xBF);
    if (!ok) return {0, k};
  }
  return {length, 0};
}

}  // namespace

std::optional<size_t> find_invalid_utf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const SequenceCheck c = check_sequence(bytes, i);
    if (c.valid == 0) return i;
    i += c.valid;
  }
  return std::nullopt;
}

void check_utf8(std::string_view bytes, std::string_view argument) {
  const std::optional<size_t> bad = find_invalid_utf8(bytes);
  LONGCTX_CHECK_ARG(!bad, std::string(argument), "valid UTF-8 text",
                    "an ill-formed UTF-8 sequence at byte "
                        << *bad << " (byte value 0x" << std::hex
                        << int(static_cast<unsigned char>(bytes[*bad])) << ")");
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const SequenceCheck c = check_sequence(bytes, i);
    if (c.valid > 0) {
      out.append(bytes.substr(i, c.valid));
      i += c.valid;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += c.ill_formed;
    }
  }
  return out;
}

char32_t next_code_point(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const size_t n = utf8_sequence_length(b0);
  char32_t c = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < n && pos + k < s.size(); ++k)
    c = (c << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3F);
  pos += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

bool is_white_space(char32_t c) {
  // The Unicode White_Space property (PropList.txt): short and stable, so listed here.
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x2000 && c <= 0x200A)) return true;
  constexpr std::array<char32_t, 9> others = {0x20,   0x85,   0xA0,   0x1680, 0x2028,
                                              0x2029, 0x202F, 0x205F, 0x3000};
  return std::find(others.begin(), others.end(), c) != others.end();
}

bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;  // Join_Control
  const utf8proc_category_t category = utf8proc_category(utf8proc_int32_t(c));
  // Letters and letter numbers (Alphabetic, up to the few Other_Alphabetic symbols), all marks,
  // decimal digits and connector punctuation.
  const bool letter = category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO;
  const bool mark = category >= UTF8PROC_CATEGORY_MN && category <= UTF8PROC_CATEGORY_ME;
  return letter || mark || category == UTF8PROC_CATEGORY_NL || category == UTF8PROC_CATEGORY_ND ||
         category == UTF8PROC_CATEGORY_PC;
}

std::string normalize(std::string_view s, NormalForm form) {
  if (s.empty()) return {};
  // Indexed by NormalForm: nfc, nfd, nfkc, nfkd.
  constexpr int kForms[] = {UTF8PROC_COMPOSE, UTF8PROC_DECOMPOSE,
                            UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                            UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
  const int options = UTF8PROC_STABLE | kForms[size_t(form)];
  utf8proc_uint8_t* mapped = nullptr;
  // No UTF8PROC_NULLTERM: the length bounds the input, so embedded NULs survive.
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()),
                   &mapped, utf8proc_option_t(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  if (n < 0)
    throw RuntimeError(std::string("utf8proc normalisation failed: ") + utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(mapped), size_t(n));
}

}  // namespace longctx::model::text
