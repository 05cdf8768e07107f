// Pieces the report's plots share (report_plots.cpp, rank_curve_plot.cpp,
// parallel_coordinates.cpp, parameter_importance.cpp); not an API.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "report/report.h"
#include "report/svg_plot.h"

namespace lorafarm::report::plot {

inline constexpr std::size_t kMaxTooltips = 2000;      // beyond this a scatter drops per-point tooltips (page size)
inline constexpr std::size_t kMaxParallelLines = 1000;  // parallel coordinates draw at most this many trials

// Completed with an objective.
bool completed(const ReportTrial& t);
// val_ppl, else exp(val_loss).
std::optional<double> val_perplexity(const ReportTrial& t);
std::string objective_label(const ExperimentSummary& s);
// Colour index of each method, in table order, so every plot agrees.
std::map<std::string, std::size_t> method_colours(const ReportData& d);
std::string param_text(const nlohmann::json& params);
std::vector<double> xs_of(const std::vector<svg::Point>& p);
std::vector<double> ys_of(const std::vector<svg::Point>& p);
// Positive values spanning a factor of 20 or more (drawn on a log axis).
bool wide(std::span<const double> v);
std::string category_of(const nlohmann::json& v);

ReportPlot learning_curves(const ReportData& d);
ReportPlot perplexity_vs_memory(const ReportData& d);
ReportPlot rank_curves(const ReportData& d);
ReportPlot optimization_history(const ReportData& d);
ReportPlot parallel_coordinates(const ReportData& d);
ReportPlot importance_plot(const ReportData& d);

}  // namespace lorafarm::report::plot
