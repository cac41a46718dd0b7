// RgbImage drawing (rectangles, bitmap-font text) and its PNG writer (libpng's simplified
// png_image API, which reports errors through its struct rather than longjmp).
#include "rgb_image.hpp"

#include <png.h>

#include <algorithm>
#include <cstring>

#include "bitmap_font.hpp"
#include "longctx/core/error.hpp"

namespace longctx::train::detail {

RgbImage::RgbImage(int width, int height, Rgb background)
    : width_(width), height_(height), pixels_(size_t(width) * size_t(height) * 3) {
  LONGCTX_CHECK_ARG(width > 0 && height > 0, "image size", "positive width and height",
                    width << " x " << height);
  fill_rect({0, 0, width, height}, background);
}

Rgb RgbImage::at(int x, int y) const {
  const uint8_t* p = &pixels_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  return {p[0], p[1], p[2]};
}

void RgbImage::put(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  uint8_t* p = &pixels_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void RgbImage::fill_rect(const PixelRect& r, Rgb c) {
  const int x0 = std::max(r.x, 0), x1 = std::min(r.x + r.w, width_);
  const int y0 = std::max(r.y, 0), y1 = std::min(r.y + r.h, height_);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) put(x, y, c);
}

void RgbImage::draw_text(std::string_view text, int x, int y, int scale, TextAnchor anchor,
                         bool vertical, Rgb colour) {
  // Lay the text out in its own box (u along the text, v down across it), then map to pixels.
  const int box_w = int(text.size()) * kGlyphAdvance * scale - scale;  // no trailing spacing
  const int box_h = kGlyphHeight * scale;
  const int u0 = anchor == TextAnchor::start    ? 0
                 : anchor == TextAnchor::middle ? -box_w / 2
                                                : -box_w;
  const int v0 = -box_h / 2;
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph& g = glyph(text[i]);
    for (int gy = 0; gy < kGlyphHeight; ++gy) {
      for (int gx = 0; gx < kGlyphWidth; ++gx) {
        if (!(g[size_t(gy)] >> (kGlyphWidth - 1 - gx) & 1)) continue;
        for (int sy = 0; sy < scale; ++sy) {
          for (int sx = 0; sx < scale; ++sx) {
            const int u = u0 + (int(i) * kGlyphAdvance + gx) * scale + sx;
            const int v = v0 + gy * scale + sy;
            // Counter-clockwise: along the text goes up the image, down the glyph goes right.
            if (vertical)
              put(x + v, y - u, colour);
            else
              put(x + u, y + v, colour);
          }
        }
      }
    }
  }
}

void write_png(const RgbImage& image, const std::filesystem::path& file) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = png_uint_32(image.width());
  png.height = png_uint_32(image.height());
  png.format = PNG_FORMAT_RGB;
  const bool ok = png_image_write_to_file(&png, file.string().c_str(), /*convert_to_8bit=*/0,
                                          image.pixels().data(), /*row_stride=*/0,
                                          /*colormap=*/nullptr) != 0;
  const std::string message = png.message;
  png_image_free(&png);
  if (!ok) throw RuntimeError("cannot write the PNG '" + file.string() + "': " + message);
}

}  // namespace longctx::train::detail
