// A 5×7 bitmap font for text in the PNG heatmap: printable ASCII letters, digits and the
// symbols the labels use, drawn for this project. Each glyph sits in a 6×8 cell (one column and
// one row of spacing); characters without a glyph draw as a hollow box.
#pragma once

#include <array>
#include <cstdint>

namespace longctx::train::detail {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7;
constexpr int kGlyphAdvance = 6, kGlyphLineHeight = 8;

// Rows top to bottom; bit (kGlyphWidth − 1 − x) of a row is the pixel at column x.
using Glyph = std::array<uint8_t, kGlyphHeight>;
const Glyph& glyph(char c);
bool has_glyph(char c);

}  // namespace longctx::train::detail
