// The depth × length heatmap: colours, labels, the SVG's structure (cells, texts, balanced
// tags), the PNG's signature, IHDR and pixels read back through libpng, the bitmap font and
// vertical text, bad input.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "bitmap_font.hpp"
#include "longctx/core/error.hpp"
#include "longctx/train/heatmap.hpp"
#include "rgb_image.hpp"

namespace longctx::train {
namespace {

namespace fs = std::filesystem;

// 3 depths × 4 lengths; row 0 all found, row 2 none, row 1 mixed.
HeatmapGrid sample_grid() {
  HeatmapGrid g;
  g.lengths = {1024, 2048, 4096, 1500};
  g.depths = {0, 50, 100};
  g.accuracy = {1,    1,   1,    1,  //
                0.25, 0.5, 0.75, 1,  //
                0,    0,   0,    0};
  g.title = "Passkey retrieval, dense";
  g.overall_accuracy = 0.6;
  return g;
}

fs::path temp_dir() {
  const fs::path dir =
      fs::temp_directory_path() /
      ("longctx_heatmap_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(dir);
  return dir;
}

bool is_green(Rgb c) {
  return c.g > c.r + 60 && c.g > c.b + 40;
}
bool is_red(Rgb c) {
  return c.r > c.g + 100 && c.r > c.b + 100;
}

TEST(Heatmap, ColourGoesRedYellowGreen) {
  EXPECT_TRUE(is_red(heatmap_colour(0)));
  EXPECT_TRUE(is_green(heatmap_colour(1)));
  const Rgb mid = heatmap_colour(0.5);
  EXPECT_GT(mid.r, 200);
  EXPECT_GT(mid.g, 180);
  EXPECT_LT(mid.b, 100);
  EXPECT_EQ(heatmap_colour(-3), heatmap_colour(0));
  EXPECT_EQ(heatmap_colour(7), heatmap_colour(1));
  // Red to yellow gains green; yellow to green loses red.
  for (int i = 0; i < 10; ++i)
    EXPECT_LE(heatmap_colour(i / 20.0).g, heatmap_colour((i + 1) / 20.0).g) << i;
  for (int i = 10; i < 20; ++i)
    EXPECT_GE(heatmap_colour(i / 20.0).r, heatmap_colour((i + 1) / 20.0).r) << i;
}

TEST(Heatmap, LengthLabels) {
  EXPECT_EQ(heatmap_length_label(4096), "4K");
  EXPECT_EQ(heatmap_length_label(1024 * 1024), "1024K");
  EXPECT_EQ(heatmap_length_label(1500), "1500");
}

// Tags open and close in order (<x/> and <?..?> stand alone); no text outside the root.
void expect_balanced_xml(const std::string& xml) {
  std::vector<std::string> open;
  const std::regex tag(R"(<(/?)([A-Za-z?][^\s/>]*)[^>]*?(/?)>)");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), tag); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[2];
    if (name[0] == '?' || (*it)[3] == "/") continue;
    if ((*it)[1] == "/") {
      ASSERT_FALSE(open.empty()) << "stray </" << name << ">";
      ASSERT_EQ(open.back(), name);
      open.pop_back();
    } else {
      open.push_back(name);
    }
  }
  EXPECT_TRUE(open.empty()) << open.size() << " unclosed, first <" << open.front() << ">";
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Heatmap, SvgHasOneRectAndOneLabelPerCellAndTheAxes) {
  const HeatmapGrid g = sample_grid();
  const std::string svg = heatmap_svg(g);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  expect_balanced_xml(svg);
  EXPECT_EQ(count(svg, "<svg "), 1);
  EXPECT_EQ(count(svg, "<rect class=\"cell\""), 12);
  EXPECT_EQ(count(svg, "<text class=\"cell\""), 12);
  EXPECT_EQ(count(svg, "<text class=\"tick\""), 4 + 3);
  EXPECT_EQ(count(svg, "<text class=\"axis\""), 2);
  EXPECT_EQ(count(svg, "<text class=\"bar\""), 3);
  EXPECT_EQ(count(svg, "class=\"colour-bar\""), 1);
  EXPECT_EQ(count(svg, ">1.00</text>"), 5);
  EXPECT_EQ(count(svg, ">0.00</text>"), 4);
  EXPECT_EQ(count(svg, ">0.75</text>"), 1);
  for (const char* label : {">1K<", ">2K<", ">4K<", ">1500<", ">0<", ">50<", ">100<",
                            ">Context length (tokens)<", ">Depth (%)<"})
    EXPECT_EQ(count(svg, label), 1) << label;
  EXPECT_NE(svg.find(">Passkey retrieval, dense: accuracy 0.60<"), std::string::npos) << svg;
  EXPECT_NE(svg.find("rotate(-90"), std::string::npos) << "the depth axis label reads upwards";
  // Cell fills follow the accuracy: the first cell green, the last red.
  const HeatmapScene s = heatmap_scene(g);
  char first[8], last[8];
  std::snprintf(first, 8, "#%02x%02x%02x", s.cells.front().fill.r, s.cells.front().fill.g,
                s.cells.front().fill.b);
  std::snprintf(last, 8, "#%02x%02x%02x", s.cells.back().fill.r, s.cells.back().fill.g,
                s.cells.back().fill.b);
  EXPECT_TRUE(is_green(s.cells.front().fill));
  EXPECT_TRUE(is_red(s.cells.back().fill));
  EXPECT_NE(svg.find(std::string("fill=\"") + first), std::string::npos);
  EXPECT_NE(svg.find(std::string("fill=\"") + last), std::string::npos);
}

TEST(Heatmap, SceneKeepsEverythingInsideTheImage) {
  for (size_t columns : {1u, 3u, 9u}) {
    HeatmapGrid g;
    for (size_t c = 0; c < columns; ++c) g.lengths.push_back(int64_t(1000 + 997 * c));
    g.depths = {0, 100};
    g.accuracy.assign(2 * columns, 0.5);
    const HeatmapScene s = heatmap_scene(g);
    for (const HeatmapCell& c : s.cells) {
      EXPECT_GE(c.box.x, 0);
      EXPECT_LE(c.box.x + c.box.w, s.width);
      EXPECT_LE(c.box.y + c.box.h, s.height);
    }
    EXPECT_LE(s.colour_bar.x + s.colour_bar.w, s.width);
    EXPECT_LE(s.colour_bar.y + s.colour_bar.h, s.height);
    for (const HeatmapText& t : s.texts) {
      EXPECT_GT(t.x, 0) << t.text;
      EXPECT_LT(t.x, s.width) << t.text;
      EXPECT_GT(t.y, 0) << t.text;
      EXPECT_LT(t.y, s.height) << t.text;
    }
  }
}

std::vector<unsigned char> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian(const std::vector<unsigned char>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

TEST(Heatmap, PngHasTheSignatureSizeAndCellColours) {
  const HeatmapGrid g = sample_grid();
  const HeatmapScene s = heatmap_scene(g);
  const fs::path file = temp_dir() / "grid.png";
  write_heatmap_png(g, file);
  const std::vector<unsigned char> bytes = read_bytes(file);
  ASSERT_GT(bytes.size(), 33u);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_EQ(std::memcmp(bytes.data(), signature, 8), 0);
  EXPECT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "IHDR");
  EXPECT_EQ(big_endian(bytes, 16), uint32_t(s.width));
  EXPECT_EQ(big_endian(bytes, 20), uint32_t(s.height));
  EXPECT_EQ(bytes[24], 8) << "bit depth";
  EXPECT_EQ(bytes[25], 2) << "colour type RGB";

  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&image, file.string().c_str())) << image.message;
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(image));  // [height, width, 3]
  ASSERT_TRUE(png_image_finish_read(&image, nullptr, rgb.data(), 0, nullptr)) << image.message;
  ASSERT_EQ(int(image.width), s.width);
  const auto pixel = [&](int x, int y) {
    const uint8_t* p = &rgb[(size_t(y) * image.width + size_t(x)) * 3];
    return Rgb{p[0], p[1], p[2]};
  };
  for (const HeatmapCell& c : s.cells) {
    const double a = g.accuracy[c.row * g.lengths.size() + c.column];
    const Rgb corner = pixel(c.box.x + 2, c.box.y + 2);  // away from the centred label
    EXPECT_EQ(corner, heatmap_colour(a)) << c.row << "," << c.column;
    if (a == 1) {
      EXPECT_TRUE(is_green(corner));
    }
    if (a == 0) {
      EXPECT_TRUE(is_red(corner));
    }
    // The label's ink: some pixel near the centre is not the fill colour.
    bool ink = false;
    for (int dx = -c.box.w / 3; dx <= c.box.w / 3; ++dx)
      ink |= !(pixel(c.box.x + c.box.w / 2 + dx, c.box.y + c.box.h / 2) == c.fill);
    EXPECT_TRUE(ink) << "cell " << c.row << "," << c.column << " has its accuracy written";
  }
  const PixelRect& bar = s.colour_bar;
  EXPECT_TRUE(is_green(pixel(bar.x + bar.w / 2, bar.y)));
  EXPECT_TRUE(is_red(pixel(bar.x + bar.w / 2, bar.y + bar.h - 1)));
  EXPECT_EQ(pixel(0, 0), (Rgb{255, 255, 255}));
  // The title is drawn: dark pixels on its line.
  int dark = 0;
  for (int x = 0; x < s.width; ++x)
    for (int y = 0; y < 40; ++y) dark += pixel(x, y) == Rgb{0, 0, 0};
  EXPECT_GT(dark, 100);
  fs::remove_all(file.parent_path());
}

TEST(Heatmap, SvgFileIsWritten) {
  const fs::path file = temp_dir() / "grid.svg";
  write_heatmap_svg(sample_grid(), file);
  const std::vector<unsigned char> bytes = read_bytes(file);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), heatmap_svg(sample_grid()));
  fs::remove_all(file.parent_path());
}

TEST(Heatmap, UnwritablePathsAreRuntimeErrors) {
  EXPECT_THROW(write_heatmap_png(sample_grid(), "/nonexistent-dir/x.png"), RuntimeError);
  EXPECT_THROW(write_heatmap_svg(sample_grid(), "/nonexistent-dir/x.svg"), RuntimeError);
}

TEST(Heatmap, BadGridsNameTheField) {
  const auto expect_error = [](HeatmapGrid g, const std::string& field) {
    try {
      heatmap_svg(g);
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  HeatmapGrid g = sample_grid();
  g.accuracy.pop_back();
  expect_error(g, "accuracy");
  g = sample_grid();
  g.accuracy[3] = 1.5;
  expect_error(g, "accuracy");
  g = sample_grid();
  g.accuracy[0] = std::nan("");
  expect_error(g, "accuracy");
  g = sample_grid();
  g.lengths.clear();
  expect_error(g, "lengths");
  g = sample_grid();
  g.depths.clear();
  expect_error(g, "depths");
  g = sample_grid();
  g.overall_accuracy = -0.1;
  expect_error(g, "overall_accuracy");
}

TEST(BitmapFont, GlyphsForLabelsAreDistinctAndUnknownsAreBoxes) {
  using detail::glyph;
  const std::string needed =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;%()-+/=_'?![]<>*#";
  for (char c : needed) EXPECT_TRUE(detail::has_glyph(c)) << c;
  for (size_t i = 0; i < needed.size(); ++i)
    for (size_t j = i + 1; j < needed.size(); ++j)
      EXPECT_NE(glyph(needed[i]), glyph(needed[j])) << needed[i] << " vs " << needed[j];
  EXPECT_EQ(glyph('A')[0], 0b01110);
  EXPECT_EQ(glyph('A')[3], 0b11111);
  EXPECT_FALSE(detail::has_glyph('~'));
  EXPECT_EQ(glyph('~')[0], 0b11111);
  EXPECT_EQ(glyph('\xC3')[1], 0b10001);
}

// The ink's bounding box and whether a predicate holds on its edges.
struct Ink {
  int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
};
Ink ink_of(const detail::RgbImage& im, Rgb paper) {
  Ink k;
  for (int y = 0; y < im.height(); ++y)
    for (int x = 0; x < im.width(); ++x)
      if (!(im.at(x, y) == paper)) {
        k.x0 = std::min(k.x0, x), k.x1 = std::max(k.x1, x);
        k.y0 = std::min(k.y0, y), k.y1 = std::max(k.y1, y);
      }
  return k;
}

TEST(BitmapFont, HorizontalAndVerticalTextFillTheirBoxes) {
  const Rgb paper{255, 255, 255}, ink{0, 0, 0};
  detail::RgbImage h(60, 40, paper);
  h.draw_text("HH", 30, 20, 2, TextAnchor::middle, false, ink);
  const Ink a = ink_of(h, paper);
  EXPECT_EQ(a.x1 - a.x0 + 1, (2 * 6 - 1) * 2);  // two glyphs of 5 + one space, ×2
  EXPECT_EQ(a.y1 - a.y0 + 1, 7 * 2);
  EXPECT_NEAR((a.x0 + a.x1) / 2.0, 30, 1.5);
  // "L" turned counter-clockwise: its stem lies along the bottom, its foot up the right side.
  detail::RgbImage v(40, 40, paper);
  v.draw_text("L", 20, 20, 1, TextAnchor::start, true, ink);
  const Ink b = ink_of(v, paper);
  EXPECT_EQ(b.x1 - b.x0 + 1, 7);
  EXPECT_EQ(b.y1 - b.y0 + 1, 5);
  for (int x = b.x0; x <= b.x1; ++x) EXPECT_EQ(v.at(x, b.y1), ink) << "stem at x " << x;
  for (int y = b.y0; y <= b.y1; ++y) EXPECT_EQ(v.at(b.x1, y), ink) << "foot at y " << y;
  EXPECT_EQ(v.at(b.x0, b.y0), paper);
  // Start anchor, vertical: the text begins at the anchor and goes up.
  EXPECT_EQ(b.y1, 20);
}

}  // namespace
}  // namespace longctx::train
