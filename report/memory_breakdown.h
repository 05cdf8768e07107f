// Where each method's memory goes: the engine's categories (schema/memory_metrics.h)
// of each method's best trial next to the process's measured peak RSS, as
// a table (Markdown, HTML, JSON) and a stacked-bar plot. The categories show
// what a method saves (QLoRA's packed weights, LoRA's small optimizer state)
// even where the process's fixed overhead dominates the peak.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"

namespace lorafarm::report {

struct MemoryBreakdown {
  std::string method;
  std::int64_t trial = 0;
  std::vector<double> category_mb;  // in schema::memory_categories() order
  std::optional<double> peak_rss_mb;  // the worker's wait4 measurement
  double held_mb() const;             // the categories' sum
  // Peak RSS minus the categories: code, allocator slack, buffers (none when no peak).
  std::optional<double> other_mb() const;
};

// One row per method whose best trial reported every category (engine trials).
std::vector<MemoryBreakdown> memory_breakdowns(const ReportData& data);

std::string memory_breakdown_markdown(const std::vector<MemoryBreakdown>& rows);
std::string memory_breakdown_html(const std::vector<MemoryBreakdown>& rows);
nlohmann::json memory_breakdown_json(const std::vector<MemoryBreakdown>& rows);

namespace plot {
ReportPlot memory_breakdown(const ReportData& d);
}

}  // namespace lorafarm::report
