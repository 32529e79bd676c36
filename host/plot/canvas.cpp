#include "plot/canvas.h"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "vpmoe/error.h"

namespace vpmoe::host::plot {
namespace {

// 3x5 glyphs, one string of 15 cells per character, row by row ('#' = ink).
const std::map<char, const char*>& font() {
  static const std::map<char, const char*> f = {
      {'0', "####.##.##.####"}, {'1', ".#.##..#..#.###"}, {'2', "###..#####..###"},
      {'3', "###..####..####"}, {'4', "#.##.####..#..#"}, {'5', "####..###..####"},
      {'6', "####..####.####"}, {'7', "###..#..#..#..#"}, {'8', "####.#####.####"},
      {'9', "####.####..####"}, {'A', "####.#####.##.#"}, {'B', "##.#.###.#.###."},
      {'C', "####..#..#..###"}, {'D', "##.#.##.##.###."}, {'E', "####..##.#..###"},
      {'F', "####..##.#..#.."}, {'G', "####..#.##.####"}, {'H', "#.##.#####.##.#"},
      {'I', "###.#..#..#.###"}, {'J', "..#..#..##.####"}, {'K', "#.##.###.#.##.#"},
      {'L', "#..#..#..#..###"}, {'M', "#.########.##.#"}, {'N', "#.###########.#"},
      {'O', "####.##.##.####"}, {'P', "####.#####..#.."}, {'Q', "####.##.####..#"},
      {'R', "##.#.###.#.##.#"}, {'S', "####..###..####"}, {'T', "###.#..#..#..#."},
      {'U', "#.##.##.##.####"}, {'V', "#.##.##.##.#.#."}, {'W', "#.##.########.#"},
      {'X', "#.##.#.#.#.##.#"}, {'Y', "#.##.#.#..#..#."}, {'Z', "###..#.#.#..###"},
      {'.', "............#.."}, {',', ".........#..#.."}, {'-', "......###......"},
      {'+', "....#.###.#...."}, {'/', "..#..#.#.#..#.."}, {':', "....#.....#...."},
      {'(', ".#.#..#..#...#."}, {')', ".#...#..#..#.#."}, {'%', "#.#..#.#.#..#.#"},
      {'=', "...###...###..."}, {'_', "............###"}, {' ', "..............."}};
  return f;
}

}  // namespace

static_assert(sizeof(Rgb) == 3, "rows are written as packed RGB bytes");

Canvas::Canvas(int width, int height, Rgb background)
    : w_(width), h_(height), px_(std::size_t(width) * std::size_t(height), background) {}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  px_[std::size_t(y) * std::size_t(w_) + std::size_t(x)] = c;
}

void Canvas::fill(int x0, int y0, int x1, int y1, Rgb c) {
  for (int y = std::max(0, y0); y <= std::min(h_ - 1, y1); ++y)
    for (int x = std::max(0, x0); x <= std::min(w_ - 1, x1); ++x) set(x, y, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int width) {
  const double len = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  const int steps = std::max(1, int(std::ceil(len)));
  const int r0 = -(width - 1) / 2, r1 = width / 2;
  for (int i = 0; i <= steps; ++i) {
    const double t = double(i) / steps;
    const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
    fill(x + r0, y + r0, x + r1, y + r1, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  return int(s.size()) * 4 * scale;
}

int Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  int cx = x;
  for (char ch : s) {
    const char up = char(std::toupper(static_cast<unsigned char>(ch)));
    const auto it = font().find(up);
    const char* g = it != font().end() ? it->second : "####.##.##.####";
    for (int r = 0; r < 5; ++r)
      for (int col = 0; col < 3; ++col)
        if (g[r * 3 + col] == '#')
          fill(cx + col * scale, y + r * scale, cx + (col + 1) * scale - 1, y + (r + 1) * scale - 1,
               c);
    cx += 4 * scale;
  }
  return cx - x;
}

void Canvas::write_png(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(path + ": cannot create the PNG: " + std::strerror(errno));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    throw Error(path + ": libpng failed writing the PNG");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w_), png_uint_32(h_), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h_; ++y)
    png_write_row(png, reinterpret_cast<png_const_bytep>(&px_[std::size_t(y) * std::size_t(w_)]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(f) != 0) throw Error(path + ": cannot finish writing the PNG");
}

}  // namespace vpmoe::host::plot
