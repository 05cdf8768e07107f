// The report's plots as inline SVG: learning curves, perplexity vs memory with
// the Pareto front and optimization history here; rank curves, parallel
// coordinates and parameter importance in files of their own. Each is drawn
// from ReportData alone.
#include <algorithm>
#include <cmath>

#include "report/memory_breakdown.h"
#include "report/plot_parts.h"

namespace lorafarm::report {
namespace plot {

using nlohmann::json;
using svg::Point;

ReportPlot learning_curves(const ReportData& d) {
  ReportPlot plot{"learning-curves", "Learning curves of the best trial per method",
                  "Validation loss (solid) and training loss (dashed) against optimizer step, for each method's best trial.", "", false};
  const auto colours = method_colours(d);
  struct Line {
    std::vector<Point> points;
    std::string colour, dash, name;
  };
  std::vector<Line> lines;
  std::vector<double> all_x, all_y;
  for (const auto& m : d.methods) {
    if (!m.best) continue;
    const auto& best = d.trials[*m.best];
    const auto it = d.curves.find(best.trial.number);
    if (it == d.curves.end()) continue;
    for (const auto* name : {"val_loss", "train_loss"}) {
      Line line{{}, svg::series_colour(colours.at(m.method)), std::string_view(name) == "val_loss" ? "" : "5 3",
                m.method + " #" + std::to_string(best.trial.number) + " " + (std::string_view(name) == "val_loss" ? "val" : "train")};
      for (const auto& r : it->second)
        if (r.name == name && r.value && std::isfinite(*r.value)) line.points.push_back({static_cast<double>(r.step), *r.value});
      if (line.points.empty()) continue;
      for (const auto& p : line.points) {
        all_x.push_back(p.x);
        all_y.push_back(p.y);
      }
      lines.push_back(std::move(line));
    }
  }
  if (lines.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No learning curves: no completed trial reported val_loss or train_loss by step.");
    return plot;
  }
  svg::Chart chart(plot.title, {"optimizer step", svg::padded_range(all_x, false, 0.02)},
                   {"loss (nats/token)", svg::padded_range(all_y, false)});
  std::vector<std::string> names, line_colours, dashes;
  for (const auto& l : lines) {
    if (l.points.size() == 1) chart.points(l.points, l.colour, 3);
    else chart.series(l.points, l.colour, l.dash);
    names.push_back(l.name);
    line_colours.push_back(l.colour);
    dashes.push_back(l.dash);
  }
  chart.legend(names, line_colours, dashes);
  plot.svg = chart.str();
  return plot;
}

ReportPlot perplexity_vs_memory(const ReportData& d) {
  ReportPlot plot{"perplexity-memory", "Validation perplexity vs peak memory",
                  "Every completed trial (colour = method); the line joins the Pareto front: no other trial has both lower perplexity "
                  "and lower peak RSS.",
                  "", false};
  const auto colours = method_colours(d);
  std::map<std::string, std::vector<Point>> by_method;
  std::map<std::string, std::vector<std::string>> tips;
  std::vector<Point> all;
  std::size_t count = 0;
  for (const auto& t : d.trials) {
    if (!completed(t)) continue;
    const auto ppl = val_perplexity(t);
    const auto mem = t.metric("peak_rss_mb");
    if (!ppl || !mem || !std::isfinite(*ppl) || !std::isfinite(*mem)) continue;
    ++count;
    by_method[t.group].push_back({*mem, *ppl});
    all.push_back({*mem, *ppl});
  }
  if (all.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No completed trial has both a validation perplexity and a peak RSS.");
    return plot;
  }
  if (count <= kMaxTooltips) {
    for (const auto& t : d.trials) {
      if (!completed(t) || !val_perplexity(t) || !t.metric("peak_rss_mb")) continue;
      tips[t.group].push_back("trial " + std::to_string(t.trial.number) + ": ppl " + svg::format_number(*val_perplexity(t)) + ", " +
                              svg::format_number(*t.metric("peak_rss_mb")) + " MB; " + param_text(t.trial.params));
    }
  }
  const auto ys = ys_of(all);
  const bool log_y = wide(ys);
  svg::Chart chart(plot.title, {"peak RSS, wait4 (MB)", svg::padded_range(xs_of(all))},
                   {std::string("validation perplexity") + (log_y ? " (log scale)" : ""), svg::padded_range(ys, log_y), log_y});
  // Pareto front (minimise both): sweep by memory, keep strictly improving perplexity.
  std::sort(all.begin(), all.end(), [](const Point& a, const Point& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  std::vector<Point> front;
  for (const auto& p : all)
    if (front.empty() || p.y < front.back().y) front.push_back(p);
  std::vector<Point> steps;
  for (std::size_t i = 0; i < front.size(); ++i) {
    if (i > 0) steps.push_back({front[i].x, front[i - 1].y});
    steps.push_back(front[i]);
  }
  chart.series(steps, "currentColor", "4 3", 1.2);
  std::vector<std::string> names, cs;
  for (const auto& [method, points] : by_method) {
    const auto c = svg::series_colour(colours.count(method) ? colours.at(method) : 0);
    chart.points(points, c, 3.5, tips[method]);
    names.push_back(method);
    cs.push_back(c);
  }
  names.push_back("Pareto front");
  cs.push_back("currentColor");
  std::vector<std::string> dashes(names.size(), "");
  dashes.back() = "4 3";
  chart.legend(names, cs, dashes);
  plot.svg = chart.str();
  return plot;
}

ReportPlot optimization_history(const ReportData& d) {
  ReportPlot plot{"history", "Optimization history",
                  "The objective of every completed trial (dots, colour = method) and the best so far (line) against the trial number.",
                  "", false};
  const auto colours = method_colours(d);
  std::map<std::string, std::vector<Point>> dots;
  std::vector<Point> best_line;
  std::vector<double> xs, ys;
  std::optional<double> best;
  for (const auto& t : d.trials) {
    if (!completed(t) || !std::isfinite(*t.trial.objective)) continue;
    const double x = static_cast<double>(t.trial.number), y = *t.trial.objective;
    dots[t.group].push_back({x, y});
    xs.push_back(x);
    ys.push_back(y);
    if (!best || (d.summary.maximize ? y > *best : y < *best)) {
      if (best) best_line.push_back({x, *best});
      best = y;
      best_line.push_back({x, y});
    }
  }
  if (xs.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No completed trial yet.");
    return plot;
  }
  best_line.push_back({xs.back(), *best});
  svg::Chart chart(plot.title, {"trial number", svg::padded_range(xs, false, 0.02), false, true}, {objective_label(d.summary), svg::padded_range(ys)});
  std::vector<std::string> names, cs;
  for (const auto& m : d.methods) {
    const auto it = dots.find(m.method);
    if (it == dots.end()) continue;
    const auto c = svg::series_colour(colours.at(m.method));
    chart.points(it->second, c, 2.5);
    names.push_back(m.method);
    cs.push_back(c);
  }
  chart.series(best_line, "currentColor", "", 1.8);
  names.push_back("best so far");
  cs.push_back("currentColor");
  chart.legend(names, cs);
  plot.svg = chart.str();
  return plot;
}

}  // namespace plot

std::vector<ReportPlot> report_plots(const ReportData& data) {
  return {plot::learning_curves(data),      plot::perplexity_vs_memory(data), plot::memory_breakdown(data), plot::rank_curves(data),
          plot::optimization_history(data), plot::parallel_coordinates(data), plot::importance_plot(data)};
}

}  // namespace lorafarm::report
