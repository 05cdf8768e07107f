// Each method's memory by category, as table rows (report/memory_breakdown.h).
#include "report/memory_breakdown.h"

#include <numeric>

#include "report/svg_plot.h"
#include "report/text_table.h"
#include "schema/memory_metrics.h"

namespace lorafarm::report {
namespace {

std::vector<std::string> header() {
  std::vector<std::string> h{"method", "best trial"};
  for (const auto& c : schema::memory_categories()) h.emplace_back(c.label);
  h.insert(h.end(), {"other", "peak RSS, wait4"});
  return h;
}

std::string mb(double v) { return svg::format_number(v, 4); }

std::vector<std::string> cells(const MemoryBreakdown& row) {
  std::vector<std::string> out{row.method, std::to_string(row.trial)};
  for (const double v : row.category_mb) out.push_back(mb(v));
  out.push_back(row.other_mb() ? mb(*row.other_mb()) : "–");
  out.push_back(row.peak_rss_mb ? mb(*row.peak_rss_mb) : "–");
  return out;
}

constexpr const char* kNote =
    "MB (MiB). The categories are what the engine holds: exact byte counts of its weights, adapters, gradients and AdamW "
    "state, and its estimate of the activations one micro-batch saves for backward. \"other\" is the process's peak RSS "
    "(wait4) minus their sum: code, tokenizer, allocator slack and buffers.";

TextTable memory_breakdown_table(const std::vector<MemoryBreakdown>& rows) {
  TextTable table{"Memory by category, best trial per method", "memory", header(), {}, kNote};
  for (const auto& row : rows) table.rows.push_back(cells(row));
  return table;
}

}  // namespace

double MemoryBreakdown::held_mb() const { return std::accumulate(category_mb.begin(), category_mb.end(), 0.0); }

std::optional<double> MemoryBreakdown::other_mb() const {
  if (!peak_rss_mb) return std::nullopt;
  return *peak_rss_mb - held_mb();
}

std::vector<MemoryBreakdown> memory_breakdowns(const ReportData& data) {
  std::vector<MemoryBreakdown> rows;
  for (const auto& m : data.methods) {
    if (!m.best) continue;
    const ReportTrial& best = data.trials[*m.best];
    MemoryBreakdown row{m.method, best.trial.number, {}, best.metric("peak_rss_mb")};
    for (const auto& c : schema::memory_categories())
      if (const auto v = best.metric(schema::memory_metric_name(c.key))) row.category_mb.push_back(*v);
    if (row.category_mb.size() == schema::memory_categories().size()) rows.push_back(std::move(row));
  }
  return rows;
}

std::string memory_breakdown_markdown(const std::vector<MemoryBreakdown>& rows) {
  return text_table_markdown(memory_breakdown_table(rows));
}

std::string memory_breakdown_html(const std::vector<MemoryBreakdown>& rows) {
  return text_table_html(memory_breakdown_table(rows));
}

nlohmann::json memory_breakdown_json(const std::vector<MemoryBreakdown>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json mb_by_category = nlohmann::json::object();
    for (std::size_t i = 0; i < row.category_mb.size(); ++i) mb_by_category[std::string(schema::memory_categories()[i].key)] = row.category_mb[i];
    out.push_back({{"method", row.method},
                   {"trial", row.trial},
                   {"categories_mb", mb_by_category},
                   {"held_mb", row.held_mb()},
                   {"other_mb", row.other_mb() ? nlohmann::json(*row.other_mb()) : nlohmann::json()},
                   {"peak_rss_mb", row.peak_rss_mb ? nlohmann::json(*row.peak_rss_mb) : nlohmann::json()}});
  }
  return out;
}

}  // namespace lorafarm::report
