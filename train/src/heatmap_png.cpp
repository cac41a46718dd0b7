// The heatmap scene rasterised (white background, cells, the colour bar row by row, bitmap-font
// texts) and written as an 8-bit RGB PNG.
#include "longctx/train/heatmap.hpp"
#include "rgb_image.hpp"

namespace longctx::train {

void write_heatmap_png(const HeatmapGrid& grid, const std::filesystem::path& file) {
  const HeatmapScene s = heatmap_scene(grid);
  detail::RgbImage image(s.width, s.height, Rgb{255, 255, 255});
  for (const HeatmapCell& c : s.cells) image.fill_rect(c.box, c.fill);
  const PixelRect& bar = s.colour_bar;
  for (int y = 0; y < bar.h; ++y)  // accuracy 1 at the top row, 0 at the bottom one
    image.fill_rect({bar.x, bar.y + y, bar.w, 1},
                    heatmap_colour(bar.h > 1 ? 1.0 - double(y) / (bar.h - 1) : 1.0));
  for (const HeatmapText& t : s.texts)
    image.draw_text(t.text, t.x, t.y, t.scale, t.anchor, t.vertical, t.colour);
  detail::write_png(image, file);
}

}  // namespace longctx::train
