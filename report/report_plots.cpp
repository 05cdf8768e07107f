// The report's plots as inline SVG: learning curves, perplexity vs memory with
// the Pareto front, rank curves, optimization history, parallel coordinates
// and parameter importance. Each is drawn from ReportData alone.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "report/report.h"
#include "report/svg_plot.h"

namespace lorafarm::coordinator {

using nlohmann::json;
using svg::Point;

namespace {

constexpr std::size_t kMaxTooltips = 2000;      // beyond this a scatter drops per-point tooltips (page size)
constexpr std::size_t kMaxParallelLines = 1000;  // parallel coordinates draw at most this many trials

bool completed(const ReportTrial& t) { return t.trial.status == schema::TrialStatus::Completed && t.trial.objective.has_value(); }

std::optional<double> val_perplexity(const ReportTrial& t) {
  if (const auto p = t.result_number("val_ppl")) return p;
  if (const auto l = t.result_number("val_loss")) return std::exp(*l);
  return std::nullopt;
}

std::string objective_label(const ExperimentSummary& s) {
  const bool loss = s.metric.find("loss") != std::string::npos;
  return s.metric + (loss ? " (nats/token)" : "") + (s.maximize ? ", higher is better" : ", lower is better");
}

// Colour index of each method, in table order, so every plot agrees.
std::map<std::string, std::size_t> method_colours(const ReportData& d) {
  std::map<std::string, std::size_t> out;
  for (const auto& m : d.methods) out.emplace(m.method, out.size());
  return out;
}

std::string param_text(const json& params) {
  std::string out;
  for (const auto& [k, v] : params.items()) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.is_number_float() ? svg::format_number(v.get<double>(), 4) : v.dump());
  }
  return out;
}

std::vector<double> xs_of(const std::vector<Point>& p) {
  std::vector<double> out;
  for (const auto& q : p) out.push_back(q.x);
  return out;
}
std::vector<double> ys_of(const std::vector<Point>& p) {
  std::vector<double> out;
  for (const auto& q : p) out.push_back(q.y);
  return out;
}

bool wide(std::span<const double> v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return lo != v.end() && *lo > 0 && *hi / *lo >= 20;
}

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
    const auto mem = t.result_number("peak_rss_mb");
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
      if (!completed(t) || !val_perplexity(t) || !t.result_number("peak_rss_mb")) continue;
      tips[t.group].push_back("trial " + std::to_string(t.trial.number) + ": ppl " + svg::format_number(*val_perplexity(t)) + ", " +
                              svg::format_number(*t.result_number("peak_rss_mb")) + " MB; " + param_text(t.trial.params));
    }
  }
  const auto ys = ys_of(all);
  const bool log_y = wide(ys);
  svg::Chart chart(plot.title, {"peak RSS (MB)", svg::padded_range(xs_of(all))},
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

ReportPlot rank_curves(const ReportData& d) {
  ReportPlot plot{"rank-curves", "Validation perplexity vs LoRA rank",
                  "Dots: completed trials by their `rank` parameter; solid line: the best trial at each rank per method; dashed: "
                  "rank ladders (val_loss@rN, perplexity = exp(loss)) of each method's best dynamic-rank trial.",
                  "", false};
  const auto colours = method_colours(d);
  std::map<std::string, std::vector<Point>> dots;
  std::map<std::string, std::map<double, double>> best_at;
  std::vector<double> all_x, all_y;
  const bool maximize = d.summary.maximize;
  for (const auto& t : d.trials) {
    if (!completed(t) || !t.trial.params.contains("rank") || !t.trial.params["rank"].is_number()) continue;
    const auto ppl = val_perplexity(t);
    if (!ppl || !std::isfinite(*ppl)) continue;
    const double r = t.trial.params["rank"].get<double>();
    dots[t.group].push_back({r, *ppl});
    auto& b = best_at[t.group];
    if (!b.count(r) || *ppl < b[r]) b[r] = *ppl;
    all_x.push_back(r);
    all_y.push_back(*ppl);
  }
  // The ladder of each method's best trial that has one.
  std::map<std::string, std::vector<Point>> ladders;
  std::map<std::string, double> ladder_best;
  for (const auto& t : d.trials) {
    const auto it = d.rank_ladders.find(t.trial.number);
    if (it == d.rank_ladders.end() || !completed(t)) continue;
    const double o = *t.trial.objective;
    if (ladder_best.count(t.group) && !(maximize ? o > ladder_best[t.group] : o < ladder_best[t.group])) continue;
    ladder_best[t.group] = o;
    auto& pts = ladders[t.group];
    pts.clear();
    for (const auto& [rank, loss] : it->second)
      if (std::isfinite(loss)) pts.push_back({static_cast<double>(rank), std::exp(loss)});
  }
  for (const auto& [m, pts] : ladders)
    for (const auto& p : pts) {
      all_x.push_back(p.x);
      all_y.push_back(p.y);
    }
  if (all_x.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No completed trial has a numeric `rank` parameter or val_loss@rN metrics.");
    return plot;
  }
  const bool log_x = wide(all_x) || (*std::max_element(all_x.begin(), all_x.end()) / std::max(1e-9, *std::min_element(all_x.begin(), all_x.end())) >= 8);
  // Ticks at the ranks tried (usually powers of two), when there are few.
  std::set<double> tried(all_x.begin(), all_x.end());
  std::vector<double> rank_ticks;
  if (tried.size() <= 12) rank_ticks.assign(tried.begin(), tried.end());
  svg::Chart chart(plot.title,
                   {std::string("LoRA rank r") + (log_x ? " (log scale)" : ""), svg::padded_range(all_x, log_x), log_x, true, rank_ticks},
                   {"validation perplexity", svg::padded_range(all_y)});
  std::vector<std::string> names, cs, dashes;
  for (const auto& m : d.methods) {
    const auto c = svg::series_colour(colours.at(m.method));
    bool shown = false;
    if (const auto it = dots.find(m.method); it != dots.end()) {
      chart.points(it->second, c, 3);
      std::vector<Point> line;
      for (const auto& [r, p] : best_at[m.method]) line.push_back({r, p});
      if (line.size() > 1) chart.series(line, c);
      shown = true;
    }
    if (const auto it = ladders.find(m.method); it != ladders.end() && !it->second.empty()) {
      if (it->second.size() > 1) chart.series(it->second, c, "5 3");
      else chart.points(it->second, c, 3);
      shown = true;
    }
    if (!shown) continue;
    names.push_back(m.method);
    cs.push_back(c);
    dashes.push_back("");
  }
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

// One parameter's axis of the parallel-coordinates plot.
struct ParamAxis {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  // categorical: in order of first sight
  svg::Scale scale;                     // numeric
};

std::string category_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

ReportPlot parallel_coordinates(const ReportData& d) {
  ReportPlot plot{"parallel-coordinates", "Parallel coordinates of the parameters",
                  "One line per completed trial through its parameter values; colour = objective (yellow = best, purple = worst). "
                  "A conditional parameter a trial does not have sits at \"n/a\" below its axis.",
                  "", false};
  std::vector<const ReportTrial*> done;
  for (const auto& t : d.trials)
    if (completed(t) && std::isfinite(*t.trial.objective)) done.push_back(&t);
  if (done.empty() || d.param_names.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, done.empty() ? "No completed trial yet." : "The search space has no parameters.");
    return plot;
  }
  const std::size_t total = done.size();
  if (done.size() > kMaxParallelLines) {
    // Keep the best and an even stride through the rest, in trial order.
    std::vector<const ReportTrial*> kept;
    const double stride = static_cast<double>(done.size()) / kMaxParallelLines;
    for (std::size_t i = 0; i < kMaxParallelLines; ++i) kept.push_back(done[static_cast<std::size_t>(i * stride)]);
    done = std::move(kept);
    plot.caption += " Showing " + std::to_string(done.size()) + " of " + std::to_string(total) + " trials (an even stride).";
  }
  const int axes = static_cast<int>(d.param_names.size()) + 1;
  const int width = std::max(640, 110 * axes + 60), height = 400;
  const double top = 44, bottom = height - 56.0, left = 60, right = width - 60.0;
  svg::Svg s(width, height, plot.title);
  s.text(12, 18, plot.title, "start", 13, 0, "title");
  auto axis_x = [&](int i) { return axes == 1 ? left : left + (right - left) * i / (axes - 1); };

  std::vector<ParamAxis> params;
  for (const auto& name : d.param_names) {
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
    } else {
      const bool log = wide(values);
      const auto r = values.empty() ? svg::Range{0, 1} : svg::padded_range(values, log, 0.0);
      a.scale = svg::Scale(r.lo, r.hi, bottom, top, log);
    }
    params.push_back(std::move(a));
  }
  std::vector<double> objectives;
  for (const auto* t : done) objectives.push_back(*t->trial.objective);
  const auto [omin, omax] = std::minmax_element(objectives.begin(), objectives.end());
  const svg::Scale objective_scale(*omin, *omax, bottom, top);
  const double na_y = bottom + 18;

  auto y_of = [&](const ParamAxis& a, const json& params_of_trial) -> double {
    if (!params_of_trial.contains(a.name)) return na_y;
    const auto& v = params_of_trial[a.name];
    if (!a.categorical) return v.is_number() ? a.scale(v.get<double>()) : na_y;
    const auto c = category_of(v);
    const auto idx = std::find(a.categories.begin(), a.categories.end(), c) - a.categories.begin();
    const auto n = a.categories.size();
    return n == 1 ? (top + bottom) / 2 : bottom - (bottom - top) * static_cast<double>(idx) / static_cast<double>(n - 1);
  };

  // Worst first, so the best lines are drawn on top.
  std::vector<std::size_t> order(done.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return d.summary.maximize ? objectives[a] < objectives[b] : objectives[a] > objectives[b];
  });
  const double span = *omax - *omin;
  for (const auto i : order) {
    std::vector<Point> pts;
    for (int k = 0; k < axes - 1; ++k) pts.push_back({axis_x(k), y_of(params[k], done[i]->trial.params)});
    pts.push_back({axis_x(axes - 1), objective_scale(objectives[i])});
    const double goodness = span > 0 ? (objectives[i] - *omin) / span : 1.0;  // 0 = lowest objective
    const double t = d.summary.maximize ? goodness : 1 - goodness;           // 1 = best
    s.polyline(pts, svg::ramp_colour(t), 1.2, "mark", "", 0.75);
  }
  // Axes over the lines.
  for (int k = 0; k < axes; ++k) {
    const double x = axis_x(k);
    s.line(x, top, x, bottom, "currentColor", 1.2, "axis");
    const bool is_objective = k == axes - 1;
    const std::string label = is_objective ? d.summary.metric + " (objective)" : params[k].name;
    s.text(x, top - 14, label, "middle", 11, 0, "axis-label");
    if (is_objective) {
      for (const double v : objective_scale.ticks(4)) s.text(x + 5, objective_scale(v) + 3.5, svg::format_number(v, 4), "start", 9);
      continue;
    }
    const auto& a = params[k];
    if (a.categorical) {
      const auto n = a.categories.size();
      for (std::size_t idx = 0; idx < n; ++idx) {
        const double yy = n == 1 ? (top + bottom) / 2 : bottom - (bottom - top) * static_cast<double>(idx) / static_cast<double>(n - 1);
        s.text(x + 5, yy + 3.5, a.categories[idx], "start", 9);
      }
    } else {
      const auto ticks = a.scale.ticks(4);
      for (const double v : ticks) s.text(x + 5, a.scale(v) + 3.5, svg::format_number(v, 3), "start", 9);
      if (a.scale.log()) s.text(x, bottom + 32, "(log scale)", "middle", 9);
    }
    s.text(x, na_y + 3.5, "n/a", "middle", 9);
  }
  plot.svg = s.str();
  return plot;
}

// Share of the objective's variance explained by one parameter alone, from
// binned marginals: Σ_b n_b (ȳ_b − ȳ)² / Σ_i (y_i − ȳ)². Categorical values
// (and "absent" for conditional parameters) are their own bins; numbers with
// more than kBins distinct values are cut at quantiles.
double main_effect_share(const std::vector<const ReportTrial*>& trials, const std::vector<double>& y, const std::string& name) {
  constexpr std::size_t kBins = 8;
  const double mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size());
  double total = 0;
  for (const double v : y) total += (v - mean) * (v - mean);
  if (total <= 0) return 0;
  std::map<std::string, std::pair<double, std::size_t>> bins;  // key -> (sum, count)
  std::vector<std::pair<double, std::size_t>> numeric;         // value, trial index
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& p = trials[i]->trial.params;
    if (!p.contains(name)) {
      auto& b = bins["\x01" "absent"];
      b.first += y[i];
      ++b.second;
    } else if (p[name].is_number()) {
      numeric.push_back({p[name].get<double>(), i});
    } else {
      auto& b = bins[category_of(p[name])];
      b.first += y[i];
      ++b.second;
    }
  }
  std::set<double> distinct;
  for (const auto& [v, i] : numeric) distinct.insert(v);
  std::sort(numeric.begin(), numeric.end());
  for (std::size_t k = 0; k < numeric.size(); ++k) {
    std::string key;
    if (distinct.size() <= kBins) {
      key = svg::format_number(numeric[k].first, 12);
    } else {
      // Quantile bin; equal values share the bin of their first occurrence.
      std::size_t first = k;
      while (first > 0 && numeric[first - 1].first == numeric[k].first) --first;
      key = "#" + std::to_string(first * kBins / numeric.size());
    }
    auto& b = bins[key];
    b.first += y[numeric[k].second];
    ++b.second;
  }
  double explained = 0;
  for (const auto& [key, b] : bins) {
    const double m = b.first / static_cast<double>(b.second);
    explained += static_cast<double>(b.second) * (m - mean) * (m - mean);
  }
  return explained / total;
}

ReportPlot importance_plot(const ReportData& d) {
  ReportPlot plot{"importance", "Parameter importance",
                  "Method: fANOVA-style first-order (main-effect) variance. For each parameter, completed trials are binned by its value "
                  "(each category, or up to 8 quantile bins for numbers, plus a bin for trials without the parameter); its share is "
                  "the variance of the bin means of the objective (weighted by bin size) over the objective's total variance. Shares "
                  "are normalised to sum to 1 (the bar labels also give the raw fraction of variance). Interactions are not "
                  "attributed, and bins of one trial overstate a parameter on small sweeps.",
                  "", false};
  const auto shares = coordinator::parameter_importance(d);
  std::size_t completed_count = 0;
  for (const auto& t : d.trials) completed_count += completed(t) && std::isfinite(*t.trial.objective);
  if (shares.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, completed_count < 2 ? "Importance needs at least two completed trials."
                                                               : "The objective does not vary with any parameter (or all trials tie).");
    return plot;
  }
  const int row = 26;
  const int height = 70 + row * static_cast<int>(shares.size()) + 30;
  const int width = 640;
  const double left = 150, right = width - 80.0, top = 36;
  svg::Svg s(width, height, plot.title);
  s.text(12, 18, plot.title + " (main-effect variance share, fANOVA-style)", "start", 13, 0, "title");
  const svg::Scale x(0, 1, left, right);
  for (std::size_t i = 0; i < shares.size(); ++i) {
    const double yy = top + row * static_cast<double>(i);
    const double share = shares[i].share;
    s.text(left - 8, yy + row * 0.6, shares[i].name, "end", 11);
    s.rect(left, yy + 4, std::max(1.0, x(share) - left), row - 8, svg::series_colour(0), "mark",
           shares[i].name + ": " + svg::format_number(share, 3) + " of the explained variance; explains " +
               svg::format_number(shares[i].variance_fraction, 3) + " of the total variance alone");
    s.text(x(share) + 6, yy + row * 0.6, svg::format_number(share, 3) + " (" + svg::format_number(shares[i].variance_fraction, 2) + ")",
           "start", 10);
  }
  const double axis_y = top + row * static_cast<double>(shares.size()) + 4;
  s.line(left, axis_y, right, axis_y, "currentColor", 1, "axis");
  for (const double t : x.ticks(5)) {
    s.line(x(t), axis_y, x(t), axis_y + 4, "currentColor", 1, "axis");
    s.text(x(t), axis_y + 16, svg::format_number(t, 2), "middle", 10);
  }
  s.text((left + right) / 2, axis_y + 34, "normalised importance (share of main-effect variance, sums to 1) from " +
                                               std::to_string(completed_count) + " completed trials",
         "middle", 11, 0, "axis-label");
  plot.svg = s.str();
  return plot;
}

}  // namespace

std::vector<ParameterImportance> parameter_importance(const ReportData& d) {
  std::vector<const ReportTrial*> done;
  std::vector<double> y;
  for (const auto& t : d.trials)
    if (completed(t) && std::isfinite(*t.trial.objective)) {
      done.push_back(&t);
      y.push_back(*t.trial.objective);
    }
  std::vector<ParameterImportance> out;
  if (done.size() < 2) return out;
  double sum = 0;
  for (const auto& name : d.param_names) {
    const double f = main_effect_share(done, y, name);
    out.push_back({name, 0, f});
    sum += f;
  }
  if (sum <= 0) return {};
  for (auto& p : out) p.share = p.variance_fraction / sum;
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.share > b.share; });
  return out;
}

std::vector<ReportPlot> report_plots(const ReportData& data) {
  return {learning_curves(data),      perplexity_vs_memory(data), rank_curves(data), optimization_history(data),
          parallel_coordinates(data), importance_plot(data)};
}

}  // namespace lorafarm::coordinator
