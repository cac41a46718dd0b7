// The byte-level alphabet of GPT-2 style BPE: every byte maps to one printable code point so that
// any UTF-8 text becomes a string over 256 visible symbols (space is "Ġ", newline "Ċ"). The
// tokenizer.json ByteLevel pre-tokenizer applies it, the ByteLevel decoder inverts it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace longctx::model::byte_level {

// Each byte of `bytes` replaced by its symbol (UTF-8 encoded).
std::string encode(std::string_view bytes);

// Appends the bytes behind the symbols of `token` to `out`; returns false (leaving `out` as it
// was) when some character of `token` is not one of the 256 symbols.
bool decode_into(std::string_view token, std::string& out);

}  // namespace longctx::model::byte_level
