// The rank-curve plot: validation perplexity against LoRA rank, from trials'
// `rank` parameters and from nested-rank trials' ladders (`val_loss@rN`).
#include <algorithm>
#include <cmath>
#include <set>

#include "report/plot_parts.h"

namespace lorafarm::report::plot {

using svg::Point;

namespace {

// What the plot draws, per method.
struct RankSeries {
  std::map<std::string, std::vector<Point>> dots;                 // every completed trial with a numeric rank
  std::map<std::string, std::map<double, double>> best_at;        // rank -> lowest perplexity
  std::map<std::string, std::vector<Point>> ladders;              // the best ladder trial's (rank, exp(loss))
  std::vector<double> all_x, all_y;
};

void collect_rank_dots(const ReportData& d, RankSeries& out) {
  for (const auto& t : d.trials) {
    if (!completed(t) || !t.trial.params.contains("rank") || !t.trial.params["rank"].is_number()) continue;
    const auto ppl = val_perplexity(t);
    if (!ppl || !std::isfinite(*ppl)) continue;
    const double r = t.trial.params["rank"].get<double>();
    out.dots[t.group].push_back({r, *ppl});
    auto& b = out.best_at[t.group];
    if (!b.count(r) || *ppl < b[r]) b[r] = *ppl;
    out.all_x.push_back(r);
    out.all_y.push_back(*ppl);
  }
}

// The ladder of each method's best trial that has one.
void collect_ladders(const ReportData& d, RankSeries& out) {
  std::map<std::string, double> ladder_best;
  const bool maximize = d.summary.maximize;
  for (const auto& t : d.trials) {
    const auto it = d.rank_ladders.find(t.trial.number);
    if (it == d.rank_ladders.end() || !completed(t)) continue;
    const double o = *t.trial.objective;
    if (ladder_best.count(t.group) && !(maximize ? o > ladder_best[t.group] : o < ladder_best[t.group])) continue;
    ladder_best[t.group] = o;
    auto& pts = out.ladders[t.group];
    pts.clear();
    for (const auto& [rank, loss] : it->second)
      if (std::isfinite(loss)) pts.push_back({static_cast<double>(rank), std::exp(loss)});
  }
  for (const auto& [m, pts] : out.ladders)
    for (const auto& p : pts) {
      out.all_x.push_back(p.x);
      out.all_y.push_back(p.y);
    }
}

// A log axis for wide rank ranges; ticks at the ranks tried (usually powers of two) when there are few.
svg::Chart::Axis rank_axis(const std::vector<double>& xs) {
  const double lo = *std::min_element(xs.begin(), xs.end()), hi = *std::max_element(xs.begin(), xs.end());
  const bool log_x = wide(xs) || hi / std::max(1e-9, lo) >= 8;
  std::set<double> tried(xs.begin(), xs.end());
  std::vector<double> rank_ticks;
  if (tried.size() <= 12) rank_ticks.assign(tried.begin(), tried.end());
  return {std::string("LoRA rank r") + (log_x ? " (log scale)" : ""), svg::padded_range(xs, log_x), log_x, true, rank_ticks};
}

}  // namespace

ReportPlot rank_curves(const ReportData& d) {
  ReportPlot plot{"rank-curves", "Validation perplexity vs LoRA rank",
                  "Dots: completed trials by their `rank` parameter; solid line: the best trial at each rank per method; dashed: "
                  "rank ladders (val_loss@rN, perplexity = exp(loss)) of each method's best dynamic-rank trial.",
                  "", false};
  RankSeries series;
  collect_rank_dots(d, series);
  collect_ladders(d, series);
  if (series.all_x.empty()) {
    plot.empty = true;
    plot.svg = svg::empty_plot(plot.title, "No completed trial has a numeric `rank` parameter or val_loss@rN metrics.");
    return plot;
  }
  const auto colours = method_colours(d);
  svg::Chart chart(plot.title, rank_axis(series.all_x), {"validation perplexity", svg::padded_range(series.all_y)});
  std::vector<std::string> names, cs, dashes;
  for (const auto& m : d.methods) {
    const auto c = svg::series_colour(colours.at(m.method));
    bool shown = false;
    if (const auto it = series.dots.find(m.method); it != series.dots.end()) {
      chart.points(it->second, c, 3);
      std::vector<Point> line;
      for (const auto& [r, p] : series.best_at[m.method]) line.push_back({r, p});
      if (line.size() > 1) chart.series(line, c);
      shown = true;
    }
    if (const auto it = series.ladders.find(m.method); it != series.ladders.end() && !it->second.empty()) {
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

}  // namespace lorafarm::report::plot
