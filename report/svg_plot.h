// A small SVG writer for the report's plots: scales with readable ticks, an
// x/y chart frame with labelled axes, and marks. Colours of axes and text are
// `currentColor` so the page's CSS decides light or dark; data colours come
// from palettes that read on both.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lorafarm::report::svg {

// "&<>\"'" escaped for text and attribute values.
std::string escape(std::string_view text);
// Compact number for labels: up to `digits` significant digits, no trailing zeros.
std::string format_number(double value, int digits = 4);

// Colour of series `index` (Okabe–Ito, colour-blind safe, visible on white and black).
std::string series_colour(std::size_t index);
// A viridis-like colour for t in [0, 1] (0 = best in the report's use).
std::string ramp_colour(double t);

// Maps data values to pixels, linear or log10.
class Scale {
 public:
  Scale() = default;
  Scale(double lo, double hi, double pixel_lo, double pixel_hi, bool log = false);
  double operator()(double value) const;
  bool log() const { return log_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  // About `count` round tick values inside [lo, hi] (1-2-5 steps; decades for log).
  std::vector<double> ticks(int count = 5) const;

 private:
  double lo_ = 0, hi_ = 1, pixel_lo_ = 0, pixel_hi_ = 1;
  bool log_ = false;
};

// [min, max] of values with a little padding; a single value gets a window around it.
struct Range {
  double lo = 0, hi = 1;
};
Range padded_range(std::span<const double> values, bool log = false, double pad = 0.05);

struct Point {
  double x = 0, y = 0;
};

// An SVG document under construction. Coordinates are pixels.
class Svg {
 public:
  Svg(int width, int height, std::string_view title);
  int width() const { return width_; }
  int height() const { return height_; }

  // `cls` is the CSS class; "mark" for data marks (tests and the page count them).
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1, std::string_view cls = "",
            std::string_view dash = "");
  void polyline(std::span<const Point> points, std::string_view stroke, double width = 1.5, std::string_view cls = "mark",
                std::string_view dash = "", double opacity = 1);
  void circle(double x, double y, double r, std::string_view fill, std::string_view cls = "mark", std::string_view tooltip = "");
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view cls = "mark", std::string_view tooltip = "");
  // anchor: "start" | "middle" | "end"; rotate in degrees about (x, y).
  void text(double x, double y, std::string_view content, std::string_view anchor = "start", double size = 11, double rotate = 0,
            std::string_view cls = "");
  void raw(std::string_view element);
  std::string str() const;

 private:
  int width_, height_;
  std::string title_;
  std::string body_;
};

// A framed x/y chart: axes with ticks and labels (units in the label text).
class Chart {
 public:
  struct Axis {
    std::string label;
    Range range;
    bool log = false;
    bool integer = false;       // ticks only at whole numbers (trial numbers, ranks)
    std::vector<double> ticks;  // explicit tick values; empty = round numbers
  };
  // The legend, if any, sits in a column right of the plot area.
  Chart(std::string_view title, Axis x, Axis y, int width = 760, int height = 360);

  Svg& svg() { return svg_; }
  const Scale& x() const { return x_; }
  const Scale& y() const { return y_; }
  Point at(double x, double y) const { return {x_(x), y_(y)}; }

  void series(std::span<const Point> data, std::string_view colour, std::string_view dash = "", double width = 1.5);
  void points(std::span<const Point> data, std::string_view colour, double radius = 3, std::span<const std::string> tooltips = {});
  // Legend entries, in the column right of the plot area.
  void legend(std::span<const std::string> names, std::span<const std::string> colours, std::span<const std::string> dashes = {});
  std::string str() const { return svg_.str(); }

 private:
  Svg svg_;
  Scale x_, y_;
  double left_, right_, top_, bottom_;
};

// An SVG that says there is nothing to draw, and why.
std::string empty_plot(std::string_view title, std::string_view reason, int width = 640, int height = 120);

}  // namespace lorafarm::report::svg
