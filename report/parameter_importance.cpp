// Parameter importance: fANOVA-style first-order (main-effect) variance
// shares from binned marginals of the completed trials, and its bar plot.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "report/plot_parts.h"

namespace lorafarm::report {

namespace {

using plot::category_of;
using plot::completed;

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


namespace plot {

ReportPlot importance_plot(const ReportData& d) {
  ReportPlot plot{"importance", "Parameter importance",
                  "Method: fANOVA-style first-order (main-effect) variance. For each parameter, completed trials are binned by its value "
                  "(each category, or up to 8 quantile bins for numbers, plus a bin for trials without the parameter); its share is "
                  "the variance of the bin means of the objective (weighted by bin size) over the objective's total variance. Shares "
                  "are normalised to sum to 1 (the bar labels also give the raw fraction of variance). Interactions are not "
                  "attributed, and bins of one trial overstate a parameter on small sweeps.",
                  "", false};
  const auto shares = parameter_importance(d);
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

}  // namespace plot

}  // namespace lorafarm::report
