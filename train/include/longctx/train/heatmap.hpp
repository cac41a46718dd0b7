// The depth × length heatmap of needle-in-a-haystack evaluations: context length along x, depth
// percent along y (0 at the top), each cell coloured from red (accuracy 0) through yellow (0.5)
// to green (1) with its accuracy written in it, axis labels, a title carrying the overall
// accuracy and a colour bar. One scene (rectangles and texts in pixel coordinates) is drawn by
// two writers: SVG text and PNG through libpng (with a built-in 5×7 bitmap font), so both
// images show the same picture.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace longctx::train {

struct HeatmapGrid {
  std::vector<int64_t> lengths;  // x: one column per context length (tokens)
  std::vector<double> depths;    // y: one row per depth percent, the first at the top
  std::vector<double> accuracy;  // [depths, lengths] row-major, each in [0, 1]
  std::string title;             // "Passkey retrieval, dense"; the overall accuracy is appended
  double overall_accuracy = 0;   // [0, 1]
};
// ArgumentError naming "lengths", "depths", "accuracy" or "overall_accuracy".
void validate(const HeatmapGrid& grid);

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};
// Red at 0, yellow at 0.5, green at 1, linear in between (clamped outside [0, 1]).
Rgb heatmap_colour(double accuracy);
// "4K" for multiples of 1024, else the number ("1500").
std::string heatmap_length_label(int64_t length);

struct PixelRect {
  int x = 0, y = 0, w = 0, h = 0;  // top-left corner and size, pixels
};
enum class TextAnchor : uint8_t { start, middle, end };
struct HeatmapText {
  std::string text;
  int x = 0, y = 0;  // anchor point; y is the text's vertical centre
  int scale = 2;     // font scale: glyph cell 6·scale × 8·scale pixels
  TextAnchor anchor = TextAnchor::middle;
  bool vertical = false;  // rotated 90° counter-clockwise (reads upwards)
  Rgb colour;
  std::string role;  // "title", "axis", "tick", "cell", "bar"
};
struct HeatmapCell {
  PixelRect box;
  Rgb fill;
  size_t row = 0, column = 0;  // depth index, length index
};
struct HeatmapScene {
  int width = 0, height = 0;       // pixels (SVG user units)
  std::vector<HeatmapCell> cells;  // [depths · lengths], row-major
  PixelRect colour_bar;            // green (1) at the top to red (0) at the bottom
  std::vector<HeatmapText> texts;
};
HeatmapScene heatmap_scene(const HeatmapGrid& grid);

std::string heatmap_svg(const HeatmapGrid& grid);
void write_heatmap_svg(const HeatmapGrid& grid, const std::filesystem::path& file);
// 8-bit RGB. RuntimeError when the file cannot be written.
void write_heatmap_png(const HeatmapGrid& grid, const std::filesystem::path& file);

}  // namespace longctx::train
