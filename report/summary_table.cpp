// `lorafarm sweep`'s closing table and `lorafarm status`: the summary as
// fixed-width text, one row per group, then the Pareto front if any.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "report/summary.h"

namespace lorafarm::report {

namespace {

std::string format_number(std::optional<double> v) {
  if (!v) return "-";
  std::ostringstream s;
  s << std::setprecision(6) << *v;
  return s.str();
}

}  // namespace

std::string render_table(const ExperimentSummary& s) {
  std::ostringstream out;
  const std::string first = s.group_by.empty() ? "" : s.group_by;
  auto count = [](const std::map<std::string, std::int64_t>& c, const char* k) {
    const auto it = c.find(k);
    return it == c.end() ? std::int64_t{0} : it->second;
  };
  out << "experiment " << s.experiment.name << " (" << s.experiment.status << "): " << s.trials << " of " << s.experiment.max_trials
      << " trials, objective " << s.metric << " (" << (s.maximize ? "max" : "min") << ")\n";
  if (!s.spec_error.empty()) out << "note: " << s.spec_error << "; shown with the default objective, ungrouped\n";
  out << std::left << std::setw(12) << (first.empty() ? "group" : first) << std::right << std::setw(14) << ("best " + s.metric)
      << std::setw(8) << "trial" << std::setw(11) << "completed" << std::setw(8) << "failed" << std::setw(8) << "pruned" << std::setw(8)
      << "infeas" << std::setw(6) << "lost" << std::setw(9) << "running" << std::setw(10) << "val ppl" << std::setw(10) << "test ppl"
      << std::setw(9) << "wait4 MB" << std::setw(11) << "trainable" << std::setw(10) << "time s" << "\n";
  for (const auto& g : s.groups) {
    out << std::left << std::setw(12) << g.group << std::right << std::setw(14) << format_number(g.best) << std::setw(8)
        << (g.best_trial ? std::to_string(*g.best_trial) : "-") << std::setw(11) << count(g.counts, "COMPLETED") << std::setw(8)
        << count(g.counts, "FAILED") << std::setw(8) << count(g.counts, "PRUNED") << std::setw(8) << count(g.counts, "INFEASIBLE")
        << std::setw(6) << count(g.counts, "LOST") << std::setw(9) << count(g.counts, "RUNNING") + count(g.counts, "QUEUED");
    // The best trial's own numbers, through the one metric lookup.
    auto metric = [&](const char* name) { return g.best_result ? g.best_result->metric(name) : std::nullopt; };
    const auto trainable = metric("trainable_params");
    out << std::setw(10) << format_number(metric("val_ppl")) << std::setw(10) << format_number(metric("test_ppl")) << std::setw(9)
        << format_number(metric("peak_rss_mb")) << std::setw(11) << (trainable ? std::to_string(static_cast<std::int64_t>(*trainable)) : "-")
        << std::setw(10) << format_number(metric("wall_seconds")) << "\n";
  }
  if (s.best) out << "best: trial " << s.best->number << " " << s.metric << " = " << format_number(s.best->objective) << " " << s.best->params.dump() << "\n";
  if (!s.best_adapter.empty()) out << "best adapter: " << s.best_adapter << "\n";
  if (s.objectives.size() > 1) {
    out << "Pareto front (" << s.pareto_front.size() << " trial" << (s.pareto_front.size() == 1 ? "" : "s")
        << " no other completed trial beats in every objective):\n";
    std::vector<int> widths;
    out << std::setw(8) << "trial";
    for (const auto& [metric, maximize] : s.objectives) {
      const std::string title = metric + (maximize ? " (max)" : " (min)");
      widths.push_back(static_cast<int>(std::max<std::size_t>(14, title.size() + 2)));
      out << std::setw(widths.back()) << title;
    }
    out << "  params\n";
    for (const auto& p : s.pareto_front) {
      out << std::setw(8) << p.trial;
      for (std::size_t k = 0; k < p.values.size(); ++k) out << std::setw(widths[k]) << format_number(p.values[k]);
      out << "  " << p.params.dump() << "\n";
    }
  }
  if (s.not_counted_results > 0) out << s.not_counted_results << " late or duplicate result(s) were recorded but not counted\n";
  return out.str();
}

}  // namespace lorafarm::report
