#include "plot/run_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "plot/canvas.h"
#include "vpmoe/error.h"

namespace vpmoe::host::plot {
namespace {

const Rgb kWhite{255, 255, 255}, kInk{40, 40, 40}, kGrid{225, 225, 225}, kBlue{31, 119, 180},
    kOrange{230, 110, 20}, kGreen{44, 150, 44};

Series from_map(const std::map<std::int64_t, double>& m) {
  Series s;
  for (const auto& [x, y] : m) s.x.push_back(double(x)), s.y.push_back(y);
  return s;
}

// A "nice" tick spacing (1, 2 or 5 times a power of ten) for about n ticks over span.
double tick_step(double span, int n) {
  const double raw = span / n, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

std::string label(double v) {
  char b[32];
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-2))
    std::snprintf(b, sizeof b, "%.1e", v);
  else
    std::snprintf(b, sizeof b, "%g", v);
  return b;
}

struct Panel {
  int x0, y0, x1, y1;  // the plot area in pixels
  double xmin, xmax, ymin, ymax;
  double px(double x) const { return x0 + (x - xmin) / (xmax - xmin) * (x1 - x0); }
  double py(double y) const { return y1 - (y - ymin) / (ymax - ymin) * (y1 - y0); }
};

void range(const std::vector<const Series*>& ss, double& lo, double& hi, bool x) {
  lo = 1e300, hi = -1e300;
  for (const Series* s : ss)
    for (double v : x ? s->x : s->y) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
}

// Axes, grid, tick labels and the series (lines, or dots for sparse ones) of one panel.
std::size_t draw_panel(Canvas& c, Panel p, const std::string& title,
                       const std::vector<std::pair<const Series*, Rgb>>& series,
                       const std::vector<std::string>& legend) {
  std::vector<const Series*> ss;
  for (const auto& [s, col] : series) ss.push_back(s);
  range(ss, p.xmin, p.xmax, true);
  range(ss, p.ymin, p.ymax, false);
  const double pad = 0.05 * (p.ymax - p.ymin);
  p.ymin -= pad, p.ymax += pad;
  c.text(p.x0, p.y0 - 24, title, kInk);
  const double dx = tick_step(p.xmax - p.xmin, 8), dy = tick_step(p.ymax - p.ymin, 5);
  for (double v = std::ceil(p.xmin / dx) * dx; v <= p.xmax + 1e-9; v += dx) {
    c.line(p.px(v), p.y0, p.px(v), p.y1, kGrid);
    const std::string l = label(v);
    c.text(int(p.px(v)) - Canvas::text_width(l) / 2, p.y1 + 8, l, kInk);
  }
  for (double v = std::ceil(p.ymin / dy) * dy; v <= p.ymax + 1e-9; v += dy) {
    c.line(p.x0, p.py(v), p.x1, p.py(v), kGrid);
    const std::string l = label(v);
    c.text(p.x0 - 8 - Canvas::text_width(l), int(p.py(v)) - 5, l, kInk);
  }
  c.line(p.x0, p.y0, p.x0, p.y1, kInk);
  c.line(p.x0, p.y1, p.x1, p.y1, kInk);
  c.line(p.x1, p.y0, p.x1, p.y1, kInk);
  c.line(p.x0, p.y0, p.x1, p.y0, kInk);
  std::size_t n = 0;
  int lx = p.x1 - 10;
  for (std::size_t i = series.size(); i-- > 0;) {
    const auto& [s, col] = series[i];
    lx -= Canvas::text_width(legend[i]) + 30;
    c.fill(lx, p.y0 + 10, lx + 16, p.y0 + 18, col);
    c.text(lx + 22, p.y0 + 9, legend[i], kInk);
    for (std::size_t j = 0; j < s->x.size(); ++j, ++n) {
      const double x = p.px(s->x[j]), y = p.py(s->y[j]);
      if (j > 0) c.line(p.px(s->x[j - 1]), p.py(s->y[j - 1]), x, y, col, 2);
      if (s->x.size() < 60) c.fill(int(x) - 3, int(y) - 3, int(x) + 3, int(y) + 3, col);
    }
  }
  return n;
}

}  // namespace

RunCurves read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw Error(path +
                ": cannot open (expected the metrics.jsonl a training run writes in its "
                "[run] dir)");
  std::map<std::int64_t, double> loss, valid, tps;
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ":" + std::to_string(line_no) + ": not a JSON object: " + e.what());
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
      throw Error(path + ":" + std::to_string(line_no) +
                  ": expected an object with an integer "
                  "\"step\"");
    const std::int64_t step = j["step"].get<std::int64_t>();
    auto num = [&](const char* k, std::map<std::int64_t, double>& m) {
      if (j.contains(k) && j[k].is_number()) m[step] = j[k].get<double>();
    };
    if (j.contains("valid_loss")) {
      num("valid_loss", valid);
      continue;
    }
    if (j.value("skipped", false)) {
      loss.erase(step);  // a resumed run's re-run step replaces the earlier record
      continue;
    }
    num("loss", loss);
    num("tokens_per_s", tps);
  }
  return {from_map(loss), from_map(valid), from_map(tps)};
}

std::size_t plot_run(const std::string& run_dir, const std::string& png_path) {
  const RunCurves r = read_metrics((std::filesystem::path(run_dir) / "metrics.jsonl").string());
  if (r.loss.x.empty() && r.valid_loss.x.empty())
    throw Error(run_dir + "/metrics.jsonl: no step records to plot");
  Canvas c(1000, 780, kWhite);
  c.text(90, 12, "RUN " + std::filesystem::path(run_dir).filename().string(), kInk, 3);
  std::size_t n = draw_panel(c, {90, 80, 970, 370, 0, 1, 0, 1}, "LOSS",
                             {{&r.loss, kBlue}, {&r.valid_loss, kOrange}}, {"TRAIN", "VALID"});
  n += draw_panel(c, {90, 450, 970, 730, 0, 1, 0, 1}, "TOKENS/S", {{&r.tokens_per_s, kGreen}},
                  {"TOKENS/S"});
  c.text(530 - Canvas::text_width("STEP") / 2, 760, "STEP", kInk);
  c.write_png(png_path);
  return n;
}

}  // namespace vpmoe::host::plot
