// SVG building blocks for the report: scales, tick choice, a chart frame.
#include "report/svg_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lorafarm::report::svg {

namespace {
std::string px(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// Rounds a span to 1, 2 or 5 times a power of ten.
double nice_step(double span, int count) {
  const double raw = span / std::max(1, count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / power;
  const double nice = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
  return nice * power;
}
}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_number(double value, int digits) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  char buffer[48];
  const double magnitude = std::fabs(value);
  if (magnitude != 0 && (magnitude >= 1e7 || magnitude < 1e-4)) {
    std::snprintf(buffer, sizeof buffer, "%.*e", std::max(0, digits - 1), value);
    // Trim zeros in the mantissa: 1.000e+05 -> 1e+05.
    std::string s = buffer;
    const auto e = s.find('e');
    std::string mantissa = s.substr(0, e);
    if (mantissa.find('.') != std::string::npos) {
      while (mantissa.back() == '0') mantissa.pop_back();
      if (mantissa.back() == '.') mantissa.pop_back();
    }
    return mantissa + s.substr(e);
  }
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  std::string s = buffer;
  if (s.find('e') != std::string::npos) {
    // %g chose an exponent for a value like 12345 with 4 digits: print it whole.
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
    s = buffer;
  }
  return s;
}

std::string series_colour(std::size_t index) {
  // Okabe & Ito (2008), minus black and yellow, which vanish on one background each.
  static const std::array<const char*, 6> colours = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"};
  return colours[index % colours.size()];
}

std::string ramp_colour(double t) {
  // Stops of matplotlib's viridis (dark purple -> yellow), linearly interpolated.
  static const std::array<std::array<double, 3>, 5> stops = {{{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
  t = std::clamp(std::isfinite(t) ? t : 0.5, 0.0, 1.0) * (stops.size() - 1);
  const auto i = std::min<std::size_t>(static_cast<std::size_t>(t), stops.size() - 2);
  const double f = t - static_cast<double>(i);
  char buffer[8];
  const auto channel = [&](int c) { return static_cast<int>(std::lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))); };
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", channel(0), channel(1), channel(2));
  return buffer;
}

Scale::Scale(double lo, double hi, double pixel_lo, double pixel_hi, bool log)
    : lo_(lo), hi_(hi), pixel_lo_(pixel_lo), pixel_hi_(pixel_hi), log_(log) {
  if (log_ && (lo_ <= 0 || hi_ <= 0)) log_ = false;  // a log axis needs positive values
  if (hi_ == lo_) {
    lo_ -= 0.5;
    hi_ += 0.5;
  }
}

double Scale::operator()(double value) const {
  double t = log_ ? (std::log10(value) - std::log10(lo_)) / (std::log10(hi_) - std::log10(lo_)) : (value - lo_) / (hi_ - lo_);
  if (!std::isfinite(t)) t = 0;
  return pixel_lo_ + t * (pixel_hi_ - pixel_lo_);
}

std::vector<double> Scale::ticks(int count) const {
  std::vector<double> out;
  if (log_) {
    const int first = static_cast<int>(std::ceil(std::log10(lo_) - 1e-9));
    const int last = static_cast<int>(std::floor(std::log10(hi_) + 1e-9));
    if (last - first >= 1) {
      const int stride = std::max(1, (last - first + 1) / std::max(1, count));
      for (int e = first; e <= last; e += stride) out.push_back(std::pow(10.0, e));
      if (out.size() >= 2) return out;
    }
    // Less than a decade: 1-2-5 ticks within it.
    out.clear();
    for (int e = static_cast<int>(std::floor(std::log10(lo_))); e <= static_cast<int>(std::ceil(std::log10(hi_))); ++e)
      for (const double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo_ * (1 - 1e-9) && v <= hi_ * (1 + 1e-9)) out.push_back(v);
      }
    if (out.size() >= 2) return out;
    out.clear();
  }
  const double lo = log_ ? lo_ : lo_, hi = hi_;
  const double step = nice_step(hi - lo, count);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return out;
}

Range padded_range(std::span<const double> values, bool log, double pad) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo > hi) return {0, 1};
  if (log) {
    const double a = std::log10(lo), b = std::log10(hi);
    const double p = b > a ? (b - a) * pad : 0.1;
    return {std::pow(10.0, a - p), std::pow(10.0, b + p)};
  }
  const double p = hi > lo ? (hi - lo) * pad : std::max(std::fabs(lo) * 0.1, 0.5);
  return {lo - p, hi + p};
}

Svg::Svg(int width, int height, std::string_view title) : width_(width), height_(height), title_(title) {}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view stroke, double width, std::string_view cls,
               std::string_view dash) {
  body_ += "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" stroke=\"" +
           std::string(stroke) + "\" stroke-width=\"" + px(width) + "\"";
  if (!dash.empty()) body_ += " stroke-dasharray=\"" + std::string(dash) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  body_ += "/>";
}

void Svg::polyline(std::span<const Point> points, std::string_view stroke, double width, std::string_view cls, std::string_view dash,
                   double opacity) {
  if (points.empty()) return;
  body_ += "<polyline fill=\"none\" stroke=\"" + std::string(stroke) + "\" stroke-width=\"" + px(width) + "\"";
  if (!dash.empty()) body_ += " stroke-dasharray=\"" + std::string(dash) + "\"";
  if (opacity < 1) body_ += " stroke-opacity=\"" + format_number(opacity, 3) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  body_ += " points=\"";
  for (const auto& p : points) {
    body_ += px(p.x);
    body_ += ',';
    body_ += px(p.y);
    body_ += ' ';
  }
  body_.back() = '"';
  body_ += "/>";
}

void Svg::circle(double x, double y, double r, std::string_view fill, std::string_view cls, std::string_view tooltip) {
  body_ += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"" + px(r) + "\" fill=\"" + std::string(fill) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  if (tooltip.empty()) {
    body_ += "/>";
    return;
  }
  body_ += "><title>" + escape(tooltip) + "</title></circle>";
}

void Svg::rect(double x, double y, double w, double h, std::string_view fill, std::string_view cls, std::string_view tooltip) {
  body_ += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(0.0, w)) + "\" height=\"" + px(std::max(0.0, h)) +
           "\" fill=\"" + std::string(fill) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  if (tooltip.empty()) {
    body_ += "/>";
    return;
  }
  body_ += "><title>" + escape(tooltip) + "</title></rect>";
}

void Svg::text(double x, double y, std::string_view content, std::string_view anchor, double size, double rotate, std::string_view cls) {
  body_ += "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" font-size=\"" + px(size) + "\" text-anchor=\"" + std::string(anchor) +
           "\" fill=\"currentColor\"";
  if (rotate != 0) body_ += " transform=\"rotate(" + px(rotate) + " " + px(x) + " " + px(y) + ")\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  body_ += ">" + escape(content) + "</text>";
}

void Svg::raw(std::string_view element) { body_ += element; }

std::string Svg::str() const {
  const std::string w = std::to_string(width_), h = std::to_string(height_);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" viewBox=\"0 0 " + w + " " + h + "\" width=\"" + w +
         "\" height=\"" + h + "\" role=\"img\" font-family=\"sans-serif\"><title>" + escape(title_) + "</title>" + body_ + "</svg>";
}

Chart::Chart(std::string_view title, Axis x, Axis y, int width, int height)
    : svg_(width, height, title), left_(64), right_(width - 150.0), top_(28), bottom_(height - 48.0) {
  x_ = Scale(x.range.lo, x.range.hi, left_, right_, x.log);
  y_ = Scale(y.range.lo, y.range.hi, bottom_, top_, y.log);
  svg_.text(left_, 16, title, "start", 13, 0, "title");
  svg_.rect(left_, top_, right_ - left_, bottom_ - top_, "none", "frame");
  // Frame and grid in currentColor at low opacity: visible on both backgrounds.
  svg_.line(left_, bottom_, right_, bottom_, "currentColor", 1, "axis");
  svg_.line(left_, top_, left_, bottom_, "currentColor", 1, "axis");
  auto whole = [](double t) { return std::fabs(t - std::round(t)) < 1e-9; };
  for (const double t : x.ticks.empty() ? x_.ticks(6) : x.ticks) {
    if (x.integer && !whole(t)) continue;
    const double p = x_(t);
    if (p < left_ - 0.5 || p > right_ + 0.5) continue;
    svg_.line(p, top_, p, bottom_, "currentColor", 0.5, "grid");
    svg_.line(p, bottom_, p, bottom_ + 4, "currentColor", 1, "axis");
    svg_.text(p, bottom_ + 16, format_number(t, 3), "middle", 10);
  }
  for (const double t : y.ticks.empty() ? y_.ticks(5) : y.ticks) {
    if (y.integer && !whole(t)) continue;
    const double p = y_(t);
    if (p < top_ - 0.5 || p > bottom_ + 0.5) continue;
    svg_.line(left_, p, right_, p, "currentColor", 0.5, "grid");
    svg_.line(left_ - 4, p, left_, p, "currentColor", 1, "axis");
    svg_.text(left_ - 6, p + 3.5, format_number(t, 3), "end", 10);
  }
  svg_.text((left_ + right_) / 2, height - 12.0, x.label, "middle", 11, 0, "axis-label");
  svg_.text(16, (top_ + bottom_) / 2, y.label, "middle", 11, -90, "axis-label");
}

void Chart::series(std::span<const Point> data, std::string_view colour, std::string_view dash, double width) {
  std::vector<Point> pixels;
  pixels.reserve(data.size());
  for (const auto& p : data) pixels.push_back(at(p.x, p.y));
  svg_.polyline(pixels, colour, width, "mark", dash);
}

void Chart::points(std::span<const Point> data, std::string_view colour, double radius, std::span<const std::string> tooltips) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto p = at(data[i].x, data[i].y);
    svg_.circle(p.x, p.y, radius, colour, "mark", i < tooltips.size() ? std::string_view(tooltips[i]) : std::string_view());
  }
}

void Chart::legend(std::span<const std::string> names, std::span<const std::string> colours, std::span<const std::string> dashes) {
  double y = top_ + 14;
  for (std::size_t i = 0; i < names.size(); ++i, y += 15) {
    const double x = right_ + 14;
    svg_.line(x, y - 4, x + 18, y - 4, i < colours.size() ? colours[i] : "currentColor", 2, "legend",
              i < dashes.size() ? std::string_view(dashes[i]) : std::string_view());
    svg_.text(x + 22, y, names[i], "start", 10, 0, "legend");
  }
}

std::string empty_plot(std::string_view title, std::string_view reason, int width, int height) {
  Svg s(width, height, title);
  s.text(12, 20, title, "start", 13, 0, "title");
  s.text(12, 50, reason, "start", 11, 0, "empty");
  return s.str();
}

}  // namespace lorafarm::report::svg
