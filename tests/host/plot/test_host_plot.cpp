// The run plot: metrics.jsonl read with the last record of a step winning (a resumed run) and
// skipped steps left out; the PNG read back with libpng has the canvas size and the series'
// colours where the curves are; bad files name the path (and line) and what was expected.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "plot/canvas.h"
#include "plot/run_plot.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using namespace host::plot;

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vpmoe_plot_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// The PNG's pixels, read with libpng.
std::vector<Rgb> read_png(const std::string& path, int& w, int& h) {
  FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_read_info(png, info);
  w = int(png_get_image_width(png, info)), h = int(png_get_image_height(png, info));
  EXPECT_EQ(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
  EXPECT_EQ(png_get_bit_depth(png, info), 8);
  std::vector<Rgb> px(std::size_t(w) * std::size_t(h));
  for (int y = 0; y < h; ++y)
    png_read_row(png, reinterpret_cast<png_bytep>(&px[std::size_t(y) * std::size_t(w)]), nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  std::fclose(f);
  return px;
}

TEST_F(PlotTest, LastRecordOfAStepWinsAndSkippedStepsAreLeftOut) {
  std::ofstream(dir_ / "metrics.jsonl")
      << R"({"step":0,"valid_loss":9.0})"
         "\n"
      << R"({"step":1,"loss":8.0,"tokens_per_s":100})"
         "\n"
      << R"({"step":2,"loss":7.0,"tokens_per_s":110})"
         "\n"
      << R"({"step":3,"loss":null,"skipped":true,"tokens_per_s":120})"
         "\n"
      << R"({"step":2,"loss":6.5,"tokens_per_s":115})"
         "\n"  // resumed from step 1
      << R"({"step":3,"loss":6.0,"tokens_per_s":118})"
         "\n"
      << R"({"step":3,"valid_loss":6.2})"
         "\n";
  const RunCurves r = read_metrics((dir_ / "metrics.jsonl").string());
  EXPECT_EQ(r.loss.x, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(r.loss.y, (std::vector<double>{8.0, 6.5, 6.0}));
  EXPECT_EQ(r.valid_loss.y, (std::vector<double>{9.0, 6.2}));
  EXPECT_EQ(r.tokens_per_s.y, (std::vector<double>{100, 115, 118}));
}

TEST_F(PlotTest, PngHasTheCurvesInTheirColours) {
  std::ofstream out(dir_ / "metrics.jsonl");
  for (int s = 1; s <= 50; ++s)
    out << R"({"step":)" << s << R"(,"loss":)" << 10.0 / s << R"(,"tokens_per_s":)" << 1000 + s
        << "}\n";
  out << R"({"step":50,"valid_loss":0.5})"
         "\n";
  out.close();
  const std::string png = (dir_ / "c.png").string();
  EXPECT_EQ(plot_run(dir_.string(), png), 101u);
  int w = 0, h = 0;
  const auto px = read_png(png, w, h);
  ASSERT_EQ(w, 1000);
  ASSERT_EQ(h, 780);
  int blue = 0, orange = 0, green = 0;
  for (const Rgb& p : px) {
    blue += p == Rgb{31, 119, 180};
    orange += p == Rgb{230, 110, 20};
    green += p == Rgb{44, 150, 44};
  }
  EXPECT_GT(blue, 500) << "the training-loss line";
  EXPECT_GT(orange, 20) << "the validation point";
  EXPECT_GT(green, 500) << "the throughput line";
}

TEST_F(PlotTest, BadFilesSayWhatWasExpected) {
  try {
    plot_run((dir_ / "nowhere").string(), (dir_ / "x.png").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere/metrics.jsonl: cannot open (expected the "
                                         "metrics.jsonl a training run writes"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(dir_ / "metrics.jsonl") << R"({"step":1,"loss":2})"
                                           "\n"
                                        << "{oops\n";
  try {
    read_metrics((dir_ / "metrics.jsonl").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2: not a JSON object"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
}

TEST(Canvas, LinesAndTextInk) {
  Canvas c(40, 20, {255, 255, 255});
  c.line(0, 0, 39, 19, {0, 0, 0});
  EXPECT_EQ(c.at(0, 0), (Rgb{0, 0, 0}));
  EXPECT_EQ(c.at(39, 19), (Rgb{0, 0, 0}));
  EXPECT_EQ(c.at(39, 0), (Rgb{255, 255, 255}));
  Canvas t(40, 12, {255, 255, 255});
  EXPECT_EQ(t.text(0, 0, "1", {0, 0, 0}, 2), 8);
  // "1" is .#. / ##. / .#. / .#. / ###: the middle column is inked in every row.
  for (int r = 0; r < 5; ++r) EXPECT_EQ(t.at(3, r * 2), (Rgb{0, 0, 0})) << r;
  EXPECT_EQ(t.at(0, 0), (Rgb{255, 255, 255}));
}

}  // namespace
}  // namespace vpmoe::testing
