// PCRE2 behind UnicodeRegex (see tokenizer_regex.hpp).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer_regex.hpp"

#include <pcre2.h>

#include "longctx/core/error.hpp"
#include "tokenizer_text.hpp"

namespace longctx::model {

struct UnicodeRegex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int error_code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(error_code, buffer, sizeof buffer) < 0) return "unknown PCRE2 error";
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

std::string with_oniguruma_spaces(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  // Bracket expressions as PCRE2 reads them: no nesting, '[' inside one is literal (but may
  // start a POSIX [:name:]), and a ']' right after the opening '[' or '[^' is literal too.
  bool in_class = false;
  size_t class_start = 0;  // index just after the '[' (and '^') that opened the class
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      if (e == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        // \S inside a class cannot be widened locally; it stays PCRE2's (differs only at U+0085).
        out += c;
        out += e;
      }
      continue;
    }
    out += c;
    if (c == '[' && !in_class) {
      in_class = true;
      class_start = i + 1;
      if (class_start < p.size() && p[class_start] == '^') {
        out += '^';
        ++i;
        ++class_start;
      }
    } else if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      const size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(p.substr(i + 1, close + 1 - i));
        i = close + 1;
      }
    } else if (c == ']' && in_class && i != class_start) {
      in_class = false;
    }
  }
  return out;
}

UnicodeRegex::UnicodeRegex(std::string_view pattern, Syntax syntax, std::string_view argument) {
  const std::string source =
      syntax == Syntax::literal ? std::string(pattern) : with_oniguruma_spaces(pattern);
  // PCRE2 refuses UCP beside LITERAL; a literal needs no character classes anyway.
  const uint32_t options =
      syntax == Syntax::literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
  text::check_utf8(pattern, argument);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &error_code, &error_offset, nullptr);
  LONGCTX_CHECK_ARG(
      code != nullptr, std::string(argument), "a regular expression (PCRE2 syntax, Unicode)",
      "\"" << pattern << "\": " << pcre2_message(error_code) << " at offset " << error_offset);
  auto compiled = std::make_shared<Compiled>();
  compiled->code = code;
  // JIT is an optimisation only: when it is unavailable pcre2_match interprets the pattern.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  compiled_ = std::move(compiled);
}

std::vector<std::pair<size_t, size_t>> UnicodeRegex::find_all(std::string_view subject) const {
  std::vector<std::pair<size_t, size_t>> matches;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!data) throw RuntimeError("PCRE2: out of memory for match data");
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  // PCRE2 validates the UTF-8 of the whole subject on every call; once is enough, or the scan
  // becomes quadratic in the subject's length.
  uint32_t check = 0;
  while (start <= subject.size()) {
    int rc = pcre2_match(compiled_->code, s, subject.size(), start, check, data.get(), nullptr);
    check = PCRE2_NO_UTF_CHECK;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's 32 KiB stack ran out (deep backtracking on a long piece): the interpreter
      // keeps its frames on the heap, so retry there.
      rc = pcre2_match(compiled_->code, s, subject.size(), start, PCRE2_NO_JIT | check, data.get(),
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw RuntimeError("PCRE2 match failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (begin == end) {
      // An empty match: kept unless it touches the previous match, then step one character on
      // so the search always advances.
      if (!(have_previous && begin == previous_end)) matches.emplace_back(begin, end);
      if (end >= subject.size()) break;
      start = end + text::utf8_sequence_length(static_cast<unsigned char>(subject[end]));
    } else {
      matches.emplace_back(begin, end);
      start = end;
    }
    have_previous = true;
    previous_end = end;
  }
  return matches;
}

}  // namespace longctx::model
