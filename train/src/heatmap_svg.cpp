// The heatmap scene as SVG: one <rect class="cell"> per cell, <text> elements with the scene's
// roles as classes, the colour bar as a linear gradient through the same three stops as
// heatmap_colour (SVG interpolates sRGB components linearly, as heatmap_colour does).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "longctx/core/error.hpp"
#include "longctx/train/heatmap.hpp"

namespace longctx::train {
namespace {

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* anchor_name(TextAnchor a) {
  switch (a) {
    case TextAnchor::start:
      return "start";
    case TextAnchor::end:
      return "end";
    default:
      return "middle";
  }
}

}  // namespace

std::string heatmap_svg(const HeatmapGrid& grid) {
  const HeatmapScene s = heatmap_scene(grid);
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << s.width << "\" height=\"" << s.height
    << "\" viewBox=\"0 0 " << s.width << ' ' << s.height << "\">\n"
    << "<defs><linearGradient id=\"accuracy\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
    << "<stop offset=\"0\" stop-color=\"" << hex(heatmap_colour(0)) << "\"/>"
    << "<stop offset=\"0.5\" stop-color=\"" << hex(heatmap_colour(0.5)) << "\"/>"
    << "<stop offset=\"1\" stop-color=\"" << hex(heatmap_colour(1)) << "\"/>"
    << "</linearGradient></defs>\n"
    << "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" << s.width << "\" height=\""
    << s.height << "\" fill=\"#ffffff\"/>\n";
  for (const HeatmapCell& c : s.cells)
    o << "<rect class=\"cell\" x=\"" << c.box.x << "\" y=\"" << c.box.y << "\" width=\"" << c.box.w
      << "\" height=\"" << c.box.h << "\" fill=\"" << hex(c.fill) << "\"/>\n";
  const PixelRect& bar = s.colour_bar;
  o << "<rect class=\"colour-bar\" x=\"" << bar.x << "\" y=\"" << bar.y << "\" width=\"" << bar.w
    << "\" height=\"" << bar.h << "\" fill=\"url(#accuracy)\"/>\n";
  for (const HeatmapText& t : s.texts) {
    // font-size 10·scale: a monospace advance of ~0.6 em matches the bitmap font's 6·scale.
    o << "<text class=\"" << t.role << "\" x=\"" << t.x << "\" y=\"" << t.y
      << "\" font-family=\"monospace\" font-size=\"" << 10 * t.scale << "\" text-anchor=\""
      << anchor_name(t.anchor) << "\" dominant-baseline=\"central\" fill=\"" << hex(t.colour)
      << '"';
    if (t.vertical) o << " transform=\"rotate(-90 " << t.x << ' ' << t.y << ")\"";
    o << '>' << escape_xml(t.text) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

void write_heatmap_svg(const HeatmapGrid& grid, const std::filesystem::path& file) {
  const std::string svg = heatmap_svg(grid);
  std::ofstream out(file, std::ios::binary);
  out << svg;
  out.close();
  if (!out) throw RuntimeError("cannot write the heatmap SVG '" + file.string() + "'");
}

}  // namespace longctx::train
