// The heatmap's scene: colours, labels and where everything goes, in pixels. Both writers
// (heatmap_svg.cpp, heatmap_png.cpp) draw exactly this, so the layout is decided once.
#include "longctx/train/heatmap.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "longctx/core/error.hpp"

namespace longctx::train {
namespace {

constexpr int kScale = 2;           // font scale of every text
constexpr int kCharW = 6 * kScale;  // advance of one character
constexpr int kCharH = 8 * kScale;  // line height
constexpr int kMargin = 16;
constexpr int kGap = 10;  // between a label and what it labels
constexpr int kBarWidth = 20;
constexpr int kMinBarHeight = 120;

// ColorBrewer RdYlGn's ends and a saturated yellow between them.
constexpr Rgb kRed{215, 48, 39}, kYellow{250, 215, 60}, kGreen{26, 152, 80};

uint8_t mix(uint8_t a, uint8_t b, double t) {
  return uint8_t(std::lround(double(a) + (double(b) - double(a)) * t));
}

int text_width(const std::string& s) {
  return int(s.size()) * kCharW;
}

std::string format(const char* fmt, double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// Black on light cells, white on dark ones (Rec. 601 luma).
Rgb ink_on(Rgb fill) {
  const double luma = 0.299 * fill.r + 0.587 * fill.g + 0.114 * fill.b;
  return luma > 140 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

}  // namespace

void validate(const HeatmapGrid& g) {
  LONGCTX_CHECK_ARG(!g.lengths.empty(), "lengths", "at least one column", "none");
  LONGCTX_CHECK_ARG(!g.depths.empty(), "depths", "at least one row", "none");
  LONGCTX_CHECK_ARG(g.accuracy.size() == g.lengths.size() * g.depths.size(), "accuracy",
                    "depths × lengths = " << g.depths.size() * g.lengths.size() << " values",
                    g.accuracy.size());
  for (double a : g.accuracy)
    LONGCTX_CHECK_ARG(a >= 0 && a <= 1, "accuracy", "fractions in [0, 1]", a);
  LONGCTX_CHECK_ARG(g.overall_accuracy >= 0 && g.overall_accuracy <= 1, "overall_accuracy",
                    "a fraction in [0, 1]", g.overall_accuracy);
}

Rgb heatmap_colour(double accuracy) {
  const double a = std::clamp(std::isnan(accuracy) ? 0.0 : accuracy, 0.0, 1.0);
  const Rgb lo = a < 0.5 ? kRed : kYellow, hi = a < 0.5 ? kYellow : kGreen;
  const double t = a < 0.5 ? a * 2 : (a - 0.5) * 2;
  return {mix(lo.r, hi.r, t), mix(lo.g, hi.g, t), mix(lo.b, hi.b, t)};
}

std::string heatmap_length_label(int64_t length) {
  if (length > 0 && length % 1024 == 0) return std::to_string(length / 1024) + "K";
  return std::to_string(length);
}

HeatmapScene heatmap_scene(const HeatmapGrid& g) {
  validate(g);
  const Rgb black{0, 0, 0};
  std::vector<std::string> x_ticks, y_ticks;
  for (int64_t l : g.lengths) x_ticks.push_back(heatmap_length_label(l));
  for (double d : g.depths) y_ticks.push_back(format("%g", d));
  const std::string title = (g.title.empty() ? std::string("Accuracy") : g.title + ": accuracy") +
                            " " + format("%.2f", g.overall_accuracy);
  const std::string x_axis = "Context length (tokens)", y_axis = "Depth (%)";
  int widest_x = text_width("1.00"), widest_y = 0;
  for (const auto& t : x_ticks) widest_x = std::max(widest_x, text_width(t));
  for (const auto& t : y_ticks) widest_y = std::max(widest_y, text_width(t));

  // Columns of the picture, left to right: y-axis label, depth ticks, grid, colour bar, its
  // ticks. Rows, top to bottom: title, grid, length ticks, x-axis label.
  const int cell_w = widest_x + 2 * kGap, cell_h = kCharH + 2 * kGap;
  const int rows = int(g.depths.size()), cols = int(g.lengths.size());
  const PixelRect grid{kMargin + kCharH + kGap + widest_y + kGap, kMargin + kCharH + 2 * kGap,
                       cols * cell_w, rows * cell_h};
  HeatmapScene s;
  s.colour_bar = {grid.x + grid.w + 2 * kGap, grid.y, kBarWidth, std::max(grid.h, kMinBarHeight)};
  const int bar_ticks_right = s.colour_bar.x + kBarWidth + kGap / 2 + text_width("0.5");
  const int x_ticks_y = grid.y + grid.h + kGap + kCharH / 2;
  const int x_axis_y = x_ticks_y + kCharH + kGap;
  s.width = std::max(bar_ticks_right, grid.x + text_width(title)) + kMargin;
  s.height = std::max(x_axis_y + kCharH / 2, s.colour_bar.y + s.colour_bar.h) + kMargin;

  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double a = g.accuracy[size_t(r * cols + c)];
      HeatmapCell cell{{grid.x + c * cell_w, grid.y + r * cell_h, cell_w, cell_h},
                       heatmap_colour(a),
                       size_t(r),
                       size_t(c)};
      s.texts.push_back({format("%.2f", a), cell.box.x + cell_w / 2, cell.box.y + cell_h / 2,
                         kScale, TextAnchor::middle, false, ink_on(cell.fill), "cell"});
      s.cells.push_back(cell);
    }
  }
  s.texts.push_back(
      {title, grid.x, kMargin + kCharH / 2, kScale, TextAnchor::start, false, black, "title"});
  for (int c = 0; c < cols; ++c)
    s.texts.push_back({x_ticks[size_t(c)], grid.x + c * cell_w + cell_w / 2, x_ticks_y, kScale,
                       TextAnchor::middle, false, black, "tick"});
  for (int r = 0; r < rows; ++r)
    s.texts.push_back({y_ticks[size_t(r)], grid.x - kGap, grid.y + r * cell_h + cell_h / 2, kScale,
                       TextAnchor::end, false, black, "tick"});
  s.texts.push_back(
      {x_axis, grid.x + grid.w / 2, x_axis_y, kScale, TextAnchor::middle, false, black, "axis"});
  // Centred on the grid, or on the colour bar where a short grid would leave the label poking out.
  s.texts.push_back({y_axis, kMargin + kCharH / 2, grid.y + std::max(grid.h, s.colour_bar.h) / 2,
                     kScale, TextAnchor::middle, true, black, "axis"});
  const PixelRect& bar = s.colour_bar;
  const int bar_label_x = bar.x + bar.w + kGap / 2;
  s.texts.push_back(
      {"1.0", bar_label_x, bar.y + kCharH / 2, kScale, TextAnchor::start, false, black, "bar"});
  s.texts.push_back(
      {"0.5", bar_label_x, bar.y + bar.h / 2, kScale, TextAnchor::start, false, black, "bar"});
  s.texts.push_back({"0.0", bar_label_x, bar.y + bar.h - kCharH / 2, kScale, TextAnchor::start,
                     false, black, "bar"});
  return s;
}

}  // namespace longctx::train
