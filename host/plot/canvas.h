#pragma once
// An RGB raster for the run plots: filled rectangles, lines of a given width, and text in a
// small built-in 3x5 pixel font (digits, capitals and the punctuation tick labels need), scaled
// up by an integer factor. Written as PNG with libpng.
#include <cstdint>
#include <string>
#include <vector>

namespace vpmoe::host::plot {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);
  int width() const { return w_; }
  int height() const { return h_; }
  Rgb at(int x, int y) const { return px_[std::size_t(y) * std::size_t(w_) + std::size_t(x)]; }
  void set(int x, int y, Rgb c);                     // clipped to the canvas
  void fill(int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1] x [y0, y1]
  void line(double x0, double y0, double x1, double y1, Rgb c, int width = 1);
  // Text with its top-left corner at (x, y); lower-case letters are drawn as capitals and a
  // character the font lacks as a box. Returns the width drawn.
  int text(int x, int y, const std::string& s, Rgb c, int scale = 2);
  static int text_width(const std::string& s, int scale = 2);
  // Writes the canvas as an 8-bit RGB PNG; errors name the path.
  void write_png(const std::string& path) const;

 private:
  int w_, h_;
  std::vector<Rgb> px_;
};

}  // namespace vpmoe::host::plot
