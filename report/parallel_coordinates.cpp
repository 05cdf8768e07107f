// The parallel-coordinates plot: one line per completed trial through its
// parameter values to its objective, coloured by the objective.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "report/plot_parts.h"

namespace lorafarm::report::plot {

using nlohmann::json;
using svg::Point;

namespace {

// One parameter's axis.
struct ParamAxis {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  // categorical: in order of first sight
  svg::Scale scale;                     // numeric
};

// The frame every axis shares (pixels).
struct Frame {
  int axes = 0;
  int width = 0, height = 400;
  double top = 44, bottom = 0, left = 60, right = 0;
  double na_y() const { return bottom + 18; }
  double axis_x(int i) const { return axes == 1 ? left : left + (right - left) * i / (axes - 1); }
  // Category `index` of `n`, evenly spread top to bottom.
  double category_y(std::size_t index, std::size_t n) const {
    return n == 1 ? (top + bottom) / 2 : bottom - (bottom - top) * static_cast<double>(index) / static_cast<double>(n - 1);
  }
};

// Completed trials with a finite objective; beyond kMaxParallelLines an even
// stride through them, in trial order (the caption says so).
std::vector<const ReportTrial*> lines_to_draw(const ReportData& d, ReportPlot& plot) {
  std::vector<const ReportTrial*> done;
  for (const auto& t : d.trials)
    if (completed(t) && std::isfinite(*t.trial.objective)) done.push_back(&t);
  if (done.size() <= kMaxParallelLines) return done;
  std::vector<const ReportTrial*> kept;
  const double stride = static_cast<double>(done.size()) / kMaxParallelLines;
  for (std::size_t i = 0; i < kMaxParallelLines; ++i) kept.push_back(done[static_cast<std::size_t>(i * stride)]);
  plot.caption += " Showing " + std::to_string(kept.size()) + " of " + std::to_string(done.size()) + " trials (an even stride).";
  return kept;
}

ParamAxis make_axis(const std::string& name, const std::vector<const ReportTrial*>& done, const Frame& f) {
  ParamAxis a;
  a.name = name;
  std::vector<double> values;
  for (const auto* t : done) {
    if (!t->trial.params.contains(name)) continue;
    const auto& v = t->trial.params[name];
    if (v.is_number()) values.push_back(v.get<double>());
    else a.categorical = true;
  }
  if (a.categorical) {
    for (const auto* t : done) {
      if (!t->trial.params.contains(name)) continue;
      const auto c = category_of(t->trial.params[name]);
      if (std::find(a.categories.begin(), a.categories.end(), c) == a.categories.end()) a.categories.push_back(c);
    }
    return a;
  }
  const bool log = wide(values);
  const auto r = values.empty() ? svg::Range{0, 1} : svg::padded_range(values, log, 0.0);
  a.scale = svg::Scale(r.lo, r.hi, f.bottom, f.top, log);
  return a;
}

// Where a trial crosses axis `a`; "n/a" below the axis when it lacks the parameter.
double y_on(const ParamAxis& a, const json& params, const Frame& f) {
  if (!params.contains(a.name)) return f.na_y();
  const auto& v = params[a.name];
  if (!a.categorical) return v.is_number() ? a.scale(v.get<double>()) : f.na_y();
  const auto idx = std::find(a.categories.begin(), a.categories.end(), category_of(v)) - a.categories.begin();
  return f.category_y(static_cast<std::size_t>(idx), a.categories.size());
}

// Worst first, so the best lines are drawn on top; yellow = best, purple = worst.
void draw_lines(svg::Svg& s, const std::vector<const ReportTrial*>& done, const std::vector<ParamAxis>& params,
                const svg::Scale& objective_scale, bool maximize, const Frame& f) {
  std::vector<double> objectives;
  for (const auto* t : done) objectives.push_back(*t->trial.objective);
  const auto [omin, omax] = std::minmax_element(objectives.begin(), objectives.end());
  const double lowest = *omin, span = *omax - *omin;
  std::vector<std::size_t> order(done.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return maximize ? objectives[a] < objectives[b] : objectives[a] > objectives[b];
  });
  for (const auto i : order) {
    std::vector<Point> pts;
    for (int k = 0; k < f.axes - 1; ++k) pts.push_back({f.axis_x(k), y_on(params[static_cast<std::size_t>(k)], done[i]->trial.params, f)});
    pts.push_back({f.axis_x(f.axes - 1), objective_scale(objectives[i])});
    const double goodness = span > 0 ? (objectives[i] - lowest) / span : 1.0;  // 0 = lowest objective
    s.polyline(pts, svg::ramp_colour(maximize ? goodness : 1 - goodness), 1.2, "mark", "", 0.75);
  }
}

void draw_axis_labels(svg::Svg& s, const ParamAxis& a, double x, const Frame& f) {
  if (a.categorical) {
    for (std::size_t idx = 0; idx < a.categories.size(); ++idx)
      s.text(x + 5, f.category_y(idx, a.categories.size()) + 3.5, a.categories[idx], "start", 9);
  } else {
    for (const double v : a.scale.ticks(4)) s.text(x + 5, a.scale(v) + 3.5, svg::format_number(v, 3), "start", 9);
    if (a.scale.log()) s.text(x, f.bottom + 32, "(log scale)", "middle", 9);
  }
  s.text(x, f.na_y() + 3.5, "n/a", "middle", 9);
}

// The axes, over the lines; the last one is the objective's.
void draw_axes(svg::Svg& s, const std::vector<ParamAxis>& params, const svg::Scale& objective_scale, const std::string& metric,
               const Frame& f) {
  for (int k = 0; k < f.axes; ++k) {
    const double x = f.axis_x(k);
    s.line(x, f.top, x, f.bottom, "currentColor", 1.2, "axis");
    const bool is_objective = k == f.axes - 1;
    s.text(x, f.top - 14, is_objective ? metric + " (objective)" : params[static_cast<std::size_t>(k)].name, "middle", 11, 0, "axis-label");
    if (!is_objective) {
      draw_axis_labels(s, params[static_cast<std::size_t>(k)], x, f);
      continue;
    }
    for (const double v : objective_scale.ticks(4)) s.text(x + 5, objective_scale(v) + 3.5, svg::format_number(v, 4), "start", 9);
  }
}

}  // namespace

ReportPlot parallel_coordinates(const ReportData& d) {
  ReportPlot plot{"parallel-coordinates", "Parallel coordinates of the parameters",
                  "One line per completed trial through its parameter values; colour = objective (yellow = best, purple = worst). "
                  "A conditional parameter a trial does not have sits at \"n/a\" below its axis.",
                  "", false};
  const auto done = lines_to_draw(d, plot);
  if (done.empty() || d.param_names.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, done.empty() ? "No completed trial yet." : "The search space has no parameters.");
    return plot;
  }
  Frame f;
  f.axes = static_cast<int>(d.param_names.size()) + 1;
  f.width = std::max(640, 110 * f.axes + 60);
  f.bottom = f.height - 56.0;
  f.right = f.width - 60.0;
  svg::Svg s(f.width, f.height, plot.title);
  s.text(12, 18, plot.title, "start", 13, 0, "title");
  std::vector<ParamAxis> params;
  for (const auto& name : d.param_names) params.push_back(make_axis(name, done, f));
  std::vector<double> objectives;
  for (const auto* t : done) objectives.push_back(*t->trial.objective);
  const auto [omin, omax] = std::minmax_element(objectives.begin(), objectives.end());
  const svg::Scale objective_scale(*omin, *omax, f.bottom, f.top);
  draw_lines(s, done, params, objective_scale, d.summary.maximize, f);
  draw_axes(s, params, objective_scale, d.summary.metric, f);
  plot.svg = s.str();
  return plot;
}

}  // namespace lorafarm::report::plot
