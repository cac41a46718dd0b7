// GPT-2's byte <-> symbol table (see tokenizer_byte_level.hpp). Printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the remaining 68 bytes, in increasing order, take the
// code points U+0100, U+0101, ... so that no symbol is whitespace or a control character.
#include "tokenizer_byte_level.hpp"

#include <array>
#include <cstdint>

#include "tokenizer_text.hpp"

namespace longctx::model::byte_level {
namespace {

constexpr char32_t kFirstShifted = 0x100;
constexpr size_t kSymbolLimit = kFirstShifted + 68;  // largest symbol + 1

struct Tables {
  std::array<std::string, 256> symbol_of_byte;       // UTF-8 of each byte's symbol
  std::array<int16_t, kSymbolLimit> byte_of_symbol;  // -1 where the code point is no symbol
};

bool stands_for_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    t.byte_of_symbol.fill(-1);
    char32_t next_shifted = kFirstShifted;
    for (unsigned b = 0; b < 256; ++b) {
      const char32_t symbol = stands_for_itself(b) ? char32_t(b) : next_shifted++;
      text::append_utf8(t.symbol_of_byte[b], symbol);
      t.byte_of_symbol[symbol] = int16_t(b);
    }
    return t;
  }();
  return t;
}

}  // namespace

std::string encode(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.symbol_of_byte[static_cast<unsigned char>(c)];
  return out;
}

bool decode_into(std::string_view token, std::string& out) {
  const Tables& t = tables();
  const size_t start = out.size();
  size_t pos = 0;
  while (pos < token.size()) {
    const char32_t c = text::next_code_point(token, pos);
    if (c >= kSymbolLimit || t.byte_of_symbol[c] < 0) {
      out.resize(start);
      return false;
    }
    out.push_back(char(t.byte_of_symbol[c]));
  }
  return true;
}

}  // namespace longctx::model::byte_level
