// An 8-bit RGB raster with the few drawing operations the PNG heatmap needs: filled
// rectangles and text in the built-in bitmap font (horizontal or rotated to read upwards),
// clipped to the image; and writing it as a PNG through libpng.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "longctx/train/heatmap.hpp"

namespace longctx::train::detail {

class RgbImage {
 public:
  RgbImage(int width, int height, Rgb background);
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }  // [height, width, 3]
  Rgb at(int x, int y) const;

  void fill_rect(const PixelRect& r, Rgb colour);
  // Text box: advance 6·scale per character, 8·scale high (7·scale of ink); (x, y) is the
  // anchor on the baseline direction and the box's vertical centre. Vertical text turns the
  // box 90° counter-clockwise about the anchor.
  void draw_text(std::string_view text, int x, int y, int scale, TextAnchor anchor, bool vertical,
                 Rgb colour);

 private:
  void put(int x, int y, Rgb colour);
  int width_, height_;
  std::vector<uint8_t> pixels_;  // [height, width, 3]
};

// RuntimeError naming the file when libpng cannot write it.
void write_png(const RgbImage& image, const std::filesystem::path& file);

}  // namespace longctx::train::detail
